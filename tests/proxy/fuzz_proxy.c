/*
 * libFuzzer target for the realip_toa PROXY protocol parser, built with AddressSanitizer and
 * UndefinedBehaviorSanitizer (tests/proxy/test_memcheck.py builds and runs it):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all tests/proxy/fuzz_proxy.c -o fuzz_proxy
 *   ./fuzz_proxy -max_total_time=30
 *
 * The first two input bytes pick the v2 limit; the rest is copied to a heap buffer of exactly its size (so a read
 * past the end is an ASan report) and parsed whole and at every 7th prefix. Properties checked on every answer:
 * a complete header lies inside the buffer and within the limit, its TLVs tile the region they claim, addresses
 * have their family's size; a prefix of a complete header is never complete or invalid; "need more" totals are
 * either unknown or larger than what was given.
 */
#define REALIP_PROXY_NO_PYTHON 1
#include "../../realip_toa/_proxy.c"

#include <stdlib.h>

static void check(const unsigned char *d, size_t n, size_t limit, pp_result *r)
{
    pp_parse(d, n, limit, r);
    if (r->status == PP_NEED) {
        if (r->need != 0 && r->need <= n)
            abort();
        if (r->need > limit && r->need > PP_V2_FIXED)
            abort();
    } else if (r->status == PP_INVALID) {
        if (r->reason == NULL)
            abort();
    } else if (r->status == PP_DONE) {
        size_t pos, count = 0;
        if (r->consumed == 0 || r->consumed > n)
            abort();
        if (r->version == 2 && r->consumed > limit)
            abort();
        if (r->version == 1 && r->consumed > PP_V1_MAX)
            abort();
        if (r->addr_len != 0 && r->addr_len != 4 && r->addr_len != 16 && r->addr_len != PP_UNIX_LEN)
            abort();
        if (r->ntlv != 0 && (r->tlv_start < PP_V2_FIXED || r->tlv_end != r->consumed))
            abort();
        for (pos = r->tlv_start; pos < r->tlv_end; count++)
            pos += 3 + (((size_t)d[pos + 1] << 8) | d[pos + 2]);
        if (pos != r->tlv_end || count != r->ntlv)
            abort();
    } else {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *copy;
    size_t limit, cut;
    pp_result whole, part;

    if (size < 2)
        return 0;
    limit = PP_V2_FIXED + ((((size_t)data[0] << 8) | data[1]) % (PP_V2_MAX - PP_V2_FIXED + 1));
    size -= 2;
    copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data + 2, size);
    check(copy, size, limit, &whole);
    if (whole.status == PP_DONE) {
        for (cut = 0; cut < whole.consumed; cut += 7) {
            check(copy, cut, limit, &part);
            if (part.status != PP_NEED)
                abort();
        }
    }
    free(copy);
    return 0;
}
