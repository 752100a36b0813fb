/*
 * libFuzzer target for the realip kernel (realip/_kernel.c) alone, built with AddressSanitizer and
 * UndefinedBehaviorSanitizer:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all tests/kernel/fuzz_kernel.c -o fuzz_kernel
 *
 * The input is a header value, copied to a heap buffer of exactly its size so any read past the end is an ASan
 * report. Every element the scan yields must lie inside the buffer, trimmed and non-empty; every parsed address must
 * have canonical text that parses again to the same address, and the trust test must agree with a linear scan.
 */
#define REALIP_KERNEL_NO_PYTHON 1
#include "../../realip/_kernel.c"

#include <stdlib.h>

/* 10.0.0.0/8, 100.64.0.0/10, 198.51.100.7 and 2001:db8:f::/48, packed as realip/_trust.py packs them. */
static unsigned char V4[] = {10, 0, 0, 0, 10, 255, 255, 255, 100, 64, 0, 0, 100, 127, 255, 255,
                             198, 51, 100, 7, 198, 51, 100, 7};
static unsigned char V6[32] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                               0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static int linear_trusted(const rk_trust *t, const rk_address *a)
{
    size_t width = a->v6 ? 16 : 4, count = a->v6 ? t->n6 : t->n4, i;
    const unsigned char *ranges = a->v6 ? t->v6 : t->v4;
    for (i = 0; i < count; i++) {
        if (memcmp(ranges + i * 2 * width, a->bytes, width) <= 0 &&
            memcmp(a->bytes, ranges + i * 2 * width + width, width) <= 0)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rk_trust trust = {3, 1, V4, V6};
    char *copy = malloc(size ? size : 1);
    size_t pos = size, start, stop, entries = 0;
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    while (rk_next(copy, &pos, &start, &stop)) {
        rk_address a, again;
        if (!(start < stop && stop <= size && pos <= start) || rk_blank(copy[start]) || rk_blank(copy[stop - 1]))
            abort();
        if (++entries > size)
            abort();                /* the scan must move left on every call */
        if (!rk_parse(copy + start, stop - start, &a))
            continue;
        if (a.text_len <= 0 || a.text_len >= RK_TEXT || a.port > 65535 || a.port < -1)
            abort();
        if (!rk_parse(a.text, (size_t)a.text_len, &again) || again.v6 != a.v6 ||
            memcmp(again.bytes, a.bytes, a.v6 ? 16 : 4) != 0 || again.text_len != a.text_len ||
            memcmp(again.text, a.text, (size_t)a.text_len) != 0)
            abort();                /* canonical text is a fixed point */
        if (rk_trusted(&trust, &a) != linear_trusted(&trust, &a))
            abort();
    }
    free(copy);
    return 0;
}
