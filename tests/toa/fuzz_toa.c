/*
 * libFuzzer target for the realip_toa C parser, built with AddressSanitizer and UndefinedBehaviorSanitizer:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I realip_toa \
 *         tests/toa/fuzz_toa.c -o fuzz_toa && ./fuzz_toa -max_total_time=30
 *
 * The first input byte picks a kinds table; the rest is fed to both parse functions. The input is copied to a
 * heap buffer of exactly its size, so any read past the end is an ASan report. Results are checked for
 * invariants that hold for any input (found options lie inside the buffer, lengths are 4 or 16, the checksum verdict
 * is -1, 0 or 1; the checksum is computed over the declared segment only when the buffer holds all of it).
 */
#define REALIP_TOA_NO_PYTHON 1
#include "../../realip_toa/_toa.c"

#include <stdlib.h>

static const unsigned char TABLES[][10] = {
    {254, 8, 254, 20, 253, 20, 200, 8, 201, 20},
    {200, 8, 0, 0, 0, 0, 0, 0, 0, 0},
    {253, 20, 2, 8, 30, 20, 0, 0, 0, 0},
};
static const size_t TABLE_SIZES[] = {10, 2, 6};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const unsigned char *kinds;
    size_t nkinds;
    unsigned char *copy;
    toa_option opt;
    toa_packet pkt;

    if (size < 1)
        return 0;
    kinds = TABLES[data[0] % 3];
    nkinds = TABLE_SIZES[data[0] % 3];
    if (toa_check_kinds(kinds, nkinds) != 0)
        abort();
    size -= 1;
    copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data + 1, size);

    toa_scan(copy, 0, size, kinds, nkinds, &opt);
    if (opt.found && opt.addr_len != 4 && opt.addr_len != 16)
        abort();
    memset(&pkt, 0, sizeof pkt);
    if (toa_parse_packet(copy, size, kinds, nkinds, &pkt)) {
        if (pkt.version != 4 && pkt.version != 6)
            abort();
        if (pkt.toa.found && pkt.toa.addr_len != 4 && pkt.toa.addr_len != 16)
            abort();
        if (pkt.checksum < -1 || pkt.checksum > 1)
            abort();
    }
    free(copy);
    return 0;
}
