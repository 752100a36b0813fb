/*
 * realip_toa._proxy: parse the PROXY protocol header (v1 text, v2 binary) at the start of a connection.
 *
 * Bytes in, tuples out, no policy (who may send a header, timeouts and what to believe live in
 * realip_toa/proxy_listener.py). Incremental: handed the bytes received so far, it answers "need more" (with the
 * total when it is known), "invalid" (with a reason) or "complete" (with the header and how many bytes it took; the
 * rest is the first request). Every length is checked against the bytes received and against the lengths the header
 * claims: the v1 line is at most 107 bytes; a v2 header at most `limit` bytes; every TLV and SSL sub-TLV must end
 * inside the header; a CRC32c TLV is verified. realip_toa/_proxy_pure.py is the reference: same function, same
 * answers, same reason texts (tests/proxy checks both on every vector, on every split, and on random input).
 *
 * Built with -DREALIP_PROXY_NO_PYTHON the Python glue is left out, so the fuzz harness (tests/proxy/fuzz_proxy.c)
 * can compile the parsing core alone under libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>

#define PP_NEED 0
#define PP_INVALID 1
#define PP_DONE 2

#define PP_V1_MAX 107               /* the longest v1 line, CRLF included (spec section 2.1) */
#define PP_V2_FIXED 16              /* signature (12), version/command, family/transport, length (2) */
#define PP_V2_MAX (16 + 65535)
#define PP_UNIX_LEN 108
#define PP_UNIQUE_ID_MAX 128

#define PP_TLV_CRC32C 0x03
#define PP_TLV_UNIQUE_ID 0x05
#define PP_TLV_SSL 0x20

static const unsigned char PP_V2_SIG[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const unsigned char PP_V1_SIG[6] = {'P', 'R', 'O', 'X', 'Y', ' '};

/* Reasons: the same texts as _proxy_pure.REASONS (a test compares them). */
#define R_NOT_PROXY "not a PROXY protocol header"
#define R_V1_NO_CRLF "v1: no CRLF within 107 bytes"
#define R_V1_CR "v1: CR not followed by LF"
#define R_V1_BYTE "v1: byte not allowed in the header line"
#define R_V1_PROTO "v1: unknown protocol (expected TCP4, TCP6 or UNKNOWN)"
#define R_V1_FIELDS "v1: expected PROXY TCP4|TCP6 SRC DST SPORT DPORT, single spaces"
#define R_V1_SRC "v1: bad source address"
#define R_V1_DST "v1: bad destination address"
#define R_V1_SPORT "v1: bad source port"
#define R_V1_DPORT "v1: bad destination port"
#define R_V2_VERSION "v2: version is not 2"
#define R_V2_COMMAND "v2: unknown command"
#define R_V2_FAMILY "v2: unknown address family or transport"
#define R_V2_LIMIT "v2: header longer than the limit"
#define R_V2_ADDRESS "v2: length shorter than the address block"
#define R_V2_TLV "v2: TLV runs past the header"
#define R_V2_CRC_LEN "v2: CRC32c TLV is not 4 bytes"
#define R_V2_CRC_TWICE "v2: more than one CRC32c TLV"
#define R_V2_CRC "v2: CRC32c mismatch"
#define R_V2_UNIQUE_ID "v2: UNIQUE_ID longer than 128 bytes"
#define R_V2_SSL "v2: SSL TLV shorter than 5 bytes"
#define R_V2_SSL_SUB "v2: SSL sub-TLV runs past its TLV"

typedef struct {
    int status;             /* PP_NEED, PP_INVALID or PP_DONE */
    size_t need;            /* PP_NEED: the total bytes wanted when known, else 0 */
    const char *reason;     /* PP_INVALID */
    size_t consumed;        /* PP_DONE: header length; the bytes after it are the first request */
    int version, command, family, transport;
    unsigned char src[PP_UNIX_LEN], dst[PP_UNIX_LEN];
    size_t addr_len;        /* 0, 4, 16 or 108 */
    unsigned int sport, dport;
    size_t tlv_start, tlv_end;  /* v2 PROXY: the TLV region inside the header, already validated */
    size_t ntlv;
    int crc;                /* a CRC32c TLV was present and matched */
} pp_result;

static const uint32_t PP_CRC32C[256] = {
    0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u, 0xc79a971fu, 0x35f1141cu,
    0x26a1e7e8u, 0xd4ca64ebu, 0x8ad958cfu, 0x78b2dbccu, 0x6be22838u, 0x9989ab3bu,
    0x4d43cfd0u, 0xbf284cd3u, 0xac78bf27u, 0x5e133c24u, 0x105ec76fu, 0xe235446cu,
    0xf165b798u, 0x030e349bu, 0xd7c45070u, 0x25afd373u, 0x36ff2087u, 0xc494a384u,
    0x9a879fa0u, 0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u, 0x5d1d08bfu, 0xaf768bbcu,
    0xbc267848u, 0x4e4dfb4bu, 0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u, 0x33ed7d2au,
    0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u, 0xaa64d611u, 0x580f5512u,
    0x4b5fa6e6u, 0xb93425e5u, 0x6dfe410eu, 0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau,
    0x30e349b1u, 0xc288cab2u, 0xd1d83946u, 0x23b3ba45u, 0xf779deaeu, 0x05125dadu,
    0x1642ae59u, 0xe4292d5au, 0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au,
    0x7da08661u, 0x8fcb0562u, 0x9c9bf696u, 0x6ef07595u, 0x417b1dbcu, 0xb3109ebfu,
    0xa0406d4bu, 0x522bee48u, 0x86e18aa3u, 0x748a09a0u, 0x67dafa54u, 0x95b17957u,
    0xcba24573u, 0x39c9c670u, 0x2a993584u, 0xd8f2b687u, 0x0c38d26cu, 0xfe53516fu,
    0xed03a29bu, 0x1f682198u, 0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u,
    0x96bf4dccu, 0x64d4cecfu, 0x77843d3bu, 0x85efbe38u, 0xdbfc821cu, 0x2997011fu,
    0x3ac7f2ebu, 0xc8ac71e8u, 0x1c661503u, 0xee0d9600u, 0xfd5d65f4u, 0x0f36e6f7u,
    0x61c69362u, 0x93ad1061u, 0x80fde395u, 0x72966096u, 0xa65c047du, 0x5437877eu,
    0x4767748au, 0xb50cf789u, 0xeb1fcbadu, 0x197448aeu, 0x0a24bb5au, 0xf84f3859u,
    0x2c855cb2u, 0xdeeedfb1u, 0xcdbe2c45u, 0x3fd5af46u, 0x7198540du, 0x83f3d70eu,
    0x90a324fau, 0x62c8a7f9u, 0xb602c312u, 0x44694011u, 0x5739b3e5u, 0xa55230e6u,
    0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u, 0x3cdb9bddu, 0xceb018deu,
    0xdde0eb2au, 0x2f8b6829u, 0x82f63b78u, 0x709db87bu, 0x63cd4b8fu, 0x91a6c88cu,
    0x456cac67u, 0xb7072f64u, 0xa457dc90u, 0x563c5f93u, 0x082f63b7u, 0xfa44e0b4u,
    0xe9141340u, 0x1b7f9043u, 0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu,
    0x92a8fc17u, 0x60c37f14u, 0x73938ce0u, 0x81f80fe3u, 0x55326b08u, 0xa759e80bu,
    0xb4091bffu, 0x466298fcu, 0x1871a4d8u, 0xea1a27dbu, 0xf94ad42fu, 0x0b21572cu,
    0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u, 0xa24bb5a6u, 0x502036a5u,
    0x4370c551u, 0xb11b4652u, 0x65d122b9u, 0x97baa1bau, 0x84ea524eu, 0x7681d14du,
    0x2892ed69u, 0xdaf96e6au, 0xc9a99d9eu, 0x3bc21e9du, 0xef087a76u, 0x1d63f975u,
    0x0e330a81u, 0xfc588982u, 0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du,
    0x758fe5d6u, 0x87e466d5u, 0x94b49521u, 0x66df1622u, 0x38cc2a06u, 0xcaa7a905u,
    0xd9f75af1u, 0x2b9cd9f2u, 0xff56bd19u, 0x0d3d3e1au, 0x1e6dcdeeu, 0xec064eedu,
    0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u, 0xd0ddd530u, 0x0417b1dbu, 0xf67c32d8u,
    0xe52cc12cu, 0x1747422fu, 0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu, 0x5a048dffu,
    0x8ecee914u, 0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u, 0xd3d3e1abu, 0x21b862a8u,
    0x32e8915cu, 0xc083125fu, 0x144976b4u, 0xe622f5b7u, 0xf5720643u, 0x07198540u,
    0x590ab964u, 0xab613a67u, 0xb831c993u, 0x4a5a4a90u, 0x9e902e7bu, 0x6cfbad78u,
    0x7fab5e8cu, 0x8dc0dd8fu, 0xe330a81au, 0x115b2b19u, 0x020bd8edu, 0xf0605beeu,
    0x24aa3f05u, 0xd6c1bc06u, 0xc5914ff2u, 0x37faccf1u, 0x69e9f0d5u, 0x9b8273d6u,
    0x88d28022u, 0x7ab90321u, 0xae7367cau, 0x5c18e4c9u, 0x4f48173du, 0xbd23943eu,
    0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u, 0x34f4f86au, 0xc69f7b69u,
    0xd5cf889du, 0x27a40b9eu, 0x79b737bau, 0x8bdcb4b9u, 0x988c474du, 0x6ae7c44eu,
    0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u, 0xad7d5351u,};

static void pp_invalid(pp_result *r, const char *reason)
{
    r->status = PP_INVALID;
    r->reason = reason;
}

static void pp_need(pp_result *r, size_t total)
{
    r->status = PP_NEED;
    r->need = total;
}

/* CRC32c of d[0, n) with the 4 bytes at `hole` counted as zeros (the checksum field itself). */
static uint32_t pp_crc32c(const unsigned char *d, size_t n, size_t hole)
{
    uint32_t c = 0xFFFFFFFFu;
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char b = (i >= hole && i < hole + 4) ? 0 : d[i];
        c = PP_CRC32C[(c ^ b) & 0xFFu] ^ (c >> 8);
    }
    return c ^ 0xFFFFFFFFu;
}

/* A decimal port: "0" or 1..5 digits without a leading zero, at most 65535. -1 if not. */
static long pp_port(const unsigned char *s, size_t n)
{
    long v = 0;
    size_t i;
    if (n < 1 || n > 5 || (n > 1 && s[0] == '0'))
        return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v > 65535 ? -1 : v;
}

/* An address token for TCP4 (digits and dots, 7..15 chars) or TCP6 (hex, colons, dots, 2..45 chars) into out.
 * 0 on success, -1 if not an address of that family (inet_pton, as socket.inet_pton in the pure twin). */
static int pp_address(const unsigned char *s, size_t n, int v6, unsigned char *out)
{
    char text[46];
    size_t i;
    if (n > 45 || n < (v6 ? 2u : 7u) || (!v6 && n > 15))
        return -1;
    for (i = 0; i < n; i++) {
        unsigned char ch = s[i];
        int ok = (ch >= '0' && ch <= '9') || ch == '.';
        if (v6)
            ok = ok || ch == ':' || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
        if (!ok)
            return -1;
        text[i] = (char)ch;
    }
    text[n] = '\0';
    return inet_pton(v6 ? AF_INET6 : AF_INET, text, out) == 1 ? 0 : -1;
}

/* The complete v1 line d[0, end) (CRLF excluded), "PROXY " already matched. */
static void pp_v1_line(const unsigned char *d, size_t end, pp_result *r)
{
    const unsigned char *fields[4];
    size_t lens[4];
    size_t i = 6, start, k;
    int v6;
    long sport, dport;

    r->version = 1;
    r->command = 1;
    if (end - i >= 7 && memcmp(d + i, "UNKNOWN", 7) == 0 && (end - i == 7 || d[i + 7] == ' ')) {
        r->family = 0;        /* the sender does not know: the connection's own addresses stand */
        r->transport = 0;
        r->addr_len = 0;
        r->status = PP_DONE;
        return;
    }
    if (end - i < 5 || (memcmp(d + i, "TCP4 ", 5) != 0 && memcmp(d + i, "TCP6 ", 5) != 0)) {
        pp_invalid(r, R_V1_PROTO);
        return;
    }
    v6 = d[i + 3] == '6';
    i += 5;
    for (k = 0; k < 4; k++) {
        start = i;
        while (i < end && d[i] != ' ')
            i++;
        fields[k] = d + start;
        lens[k] = i - start;
        if (lens[k] == 0 || (k < 3 && i == end) || (k == 3 && i != end)) {
            pp_invalid(r, R_V1_FIELDS);
            return;
        }
        i++;  /* the single space (or past the end after the last field) */
    }
    if (pp_address(fields[0], lens[0], v6, r->src) != 0) {
        pp_invalid(r, R_V1_SRC);
        return;
    }
    if (pp_address(fields[1], lens[1], v6, r->dst) != 0) {
        pp_invalid(r, R_V1_DST);
        return;
    }
    sport = pp_port(fields[2], lens[2]);
    if (sport < 0) {
        pp_invalid(r, R_V1_SPORT);
        return;
    }
    dport = pp_port(fields[3], lens[3]);
    if (dport < 0) {
        pp_invalid(r, R_V1_DPORT);
        return;
    }
    r->family = v6 ? 2 : 1;
    r->transport = 1;
    r->addr_len = v6 ? 16 : 4;
    r->sport = (unsigned int)sport;
    r->dport = (unsigned int)dport;
    r->status = PP_DONE;
}

static void pp_v1(const unsigned char *d, size_t n, pp_result *r)
{
    size_t i, scan = n < PP_V1_MAX ? n : PP_V1_MAX;
    for (i = 6; i < scan; i++) {
        unsigned char ch = d[i];
        if (ch == '\r') {
            if (i + 1 >= PP_V1_MAX) {
                pp_invalid(r, R_V1_NO_CRLF);
                return;
            }
            if (i + 1 >= n) {
                pp_need(r, 0);
                return;
            }
            if (d[i + 1] != '\n') {
                pp_invalid(r, R_V1_CR);
                return;
            }
            r->consumed = i + 2;
            pp_v1_line(d, i, r);
            return;
        }
        if (ch < 0x20 || ch > 0x7E) {
            pp_invalid(r, R_V1_BYTE);
            return;
        }
    }
    if (n >= PP_V1_MAX)
        pp_invalid(r, R_V1_NO_CRLF);
    else
        pp_need(r, 0);
}

/* Walk TLVs in d[start, end): 0 if each one ends inside; checks SSL sub-TLVs when ssl is set. */
static const char *pp_walk(const unsigned char *d, size_t start, size_t end, int top, pp_result *r, size_t *crc_at)
{
    size_t pos = start, len;
    while (pos < end) {
        unsigned char type;
        if (end - pos < 3)
            return top ? R_V2_TLV : R_V2_SSL_SUB;
        type = d[pos];
        len = ((size_t)d[pos + 1] << 8) | d[pos + 2];
        if (len > end - pos - 3)
            return top ? R_V2_TLV : R_V2_SSL_SUB;
        if (top) {
            const char *sub;
            if (type == PP_TLV_CRC32C) {
                if (len != 4)
                    return R_V2_CRC_LEN;
                if (*crc_at != 0)
                    return R_V2_CRC_TWICE;
                *crc_at = pos + 3;
            } else if (type == PP_TLV_UNIQUE_ID && len > PP_UNIQUE_ID_MAX) {
                return R_V2_UNIQUE_ID;
            } else if (type == PP_TLV_SSL) {
                if (len < 5)
                    return R_V2_SSL;
                sub = pp_walk(d, pos + 3 + 5, pos + 3 + len, 0, r, crc_at);
                if (sub != NULL)
                    return sub;
            }
            r->ntlv++;
        }
        pos += 3 + len;
    }
    return NULL;
}

static void pp_v2(const unsigned char *d, size_t n, size_t limit, pp_result *r)
{
    size_t len, total, addr, crc_at = 0;
    unsigned char fam;
    const char *bad;

    if (n > 12 && d[12] != 0x20 && d[12] != 0x21) {
        pp_invalid(r, (d[12] >> 4) != 2 ? R_V2_VERSION : R_V2_COMMAND);
        return;
    }
    fam = n > 13 ? d[13] : 0;
    if (n > 13 && d[12] == 0x21 && fam != 0x00 && fam != 0x11 && fam != 0x12 && fam != 0x21 && fam != 0x22 &&
        fam != 0x31 && fam != 0x32) {
        pp_invalid(r, R_V2_FAMILY);
        return;
    }
    if (n < PP_V2_FIXED) {
        pp_need(r, PP_V2_FIXED);
        return;
    }
    len = ((size_t)d[14] << 8) | d[15];
    total = PP_V2_FIXED + len;
    if (total > limit) {
        pp_invalid(r, R_V2_LIMIT);
        return;
    }
    r->version = 2;
    r->command = d[12] & 0x0F;
    if (r->command == 0) {        /* LOCAL: the connection's own addresses; the block is skipped unread */
        if (n < total) {
            pp_need(r, total);
            return;
        }
        r->family = 0;
        r->transport = 0;
        r->addr_len = 0;
        r->consumed = total;
        r->status = PP_DONE;
        return;
    }
    r->family = fam >> 4;
    r->transport = fam & 0x0F;
    addr = r->family == 1 ? 12 : r->family == 2 ? 36 : r->family == 3 ? 2 * PP_UNIX_LEN : 0;
    if (len < addr) {
        pp_invalid(r, R_V2_ADDRESS);
        return;
    }
    if (n < total) {
        pp_need(r, total);
        return;
    }
    if (r->family == 1 || r->family == 2) {
        size_t a = r->family == 1 ? 4 : 16;
        memcpy(r->src, d + 16, a);
        memcpy(r->dst, d + 16 + a, a);
        r->sport = ((unsigned int)d[16 + 2 * a] << 8) | d[17 + 2 * a];
        r->dport = ((unsigned int)d[18 + 2 * a] << 8) | d[19 + 2 * a];
        r->addr_len = a;
    } else if (r->family == 3) {
        memcpy(r->src, d + 16, PP_UNIX_LEN);
        memcpy(r->dst, d + 16 + PP_UNIX_LEN, PP_UNIX_LEN);
        r->addr_len = PP_UNIX_LEN;
    }
    r->tlv_start = PP_V2_FIXED + addr;
    r->tlv_end = total;
    bad = pp_walk(d, r->tlv_start, total, 1, r, &crc_at);
    if (bad != NULL) {
        pp_invalid(r, bad);
        return;
    }
    if (crc_at != 0) {
        uint32_t want = ((uint32_t)d[crc_at] << 24) | ((uint32_t)d[crc_at + 1] << 16) |
                        ((uint32_t)d[crc_at + 2] << 8) | (uint32_t)d[crc_at + 3];
        if (pp_crc32c(d, total, crc_at) != want) {
            pp_invalid(r, R_V2_CRC);
            return;
        }
        r->crc = 1;
    }
    r->consumed = total;
    r->status = PP_DONE;
}

/* Parse the start of a connection, d[0, n); `limit` caps a v2 header's total size (16..65551). */
static void pp_parse(const unsigned char *d, size_t n, size_t limit, pp_result *r)
{
    size_t m;
    memset(r, 0, sizeof *r);
    m = n < 12 ? n : 12;
    if (n == 0) {
        pp_need(r, 0);
    } else if (memcmp(d, PP_V2_SIG, m) == 0) {
        if (n < 12)
            pp_need(r, PP_V2_FIXED);
        else
            pp_v2(d, n, limit, r);
    } else if (memcmp(d, PP_V1_SIG, n < 6 ? n : 6) == 0) {
        if (n < 6)
            pp_need(r, 0);
        else
            pp_v1(d, n, r);
    } else {
        pp_invalid(r, R_NOT_PROXY);
    }
}

#ifndef REALIP_PROXY_NO_PYTHON
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* A tuple of `count` new references, or NULL (and every reference released) if any is NULL. */
static PyObject *pp_tuple(PyObject **items, Py_ssize_t count)
{
    PyObject *result = PyTuple_New(count);
    Py_ssize_t i;
    for (i = 0; i < count; i++) {
        if (items[i] == NULL || result == NULL) {
            for (i = 0; i < count; i++)
                Py_XDECREF(items[i]);
            Py_XDECREF(result);
            return NULL;
        }
    }
    for (i = 0; i < count; i++)
        PyTuple_SET_ITEM(result, i, items[i]);  /* steals the references */
    return result;
}

/* ((type, value), ...) for the validated TLV region of d. */
static PyObject *pp_tlvs(const unsigned char *d, const pp_result *r)
{
    PyObject *tlvs = PyTuple_New((Py_ssize_t)r->ntlv);
    size_t pos = r->tlv_start;
    Py_ssize_t k = 0;
    if (tlvs == NULL)
        return NULL;
    while (pos < r->tlv_end && k < (Py_ssize_t)r->ntlv) {
        size_t len = ((size_t)d[pos + 1] << 8) | d[pos + 2];
        PyObject *pair[2];
        PyObject *item;
        pair[0] = PyLong_FromLong((long)d[pos]);
        pair[1] = PyBytes_FromStringAndSize((const char *)d + pos + 3, (Py_ssize_t)len);
        item = pp_tuple(pair, 2);
        if (item == NULL) {
            Py_DECREF(tlvs);
            return NULL;
        }
        PyTuple_SET_ITEM(tlvs, k, item);
        k++;
        pos += 3 + len;
    }
    return tlvs;
}

static PyObject *pp_answer(const unsigned char *d, const pp_result *r)
{
    PyObject *items[12];
    if (r->status == PP_NEED) {
        items[0] = PyLong_FromLong(PP_NEED);
        items[1] = PyLong_FromSize_t(r->need);
        return pp_tuple(items, 2);
    }
    if (r->status == PP_INVALID) {
        items[0] = PyLong_FromLong(PP_INVALID);
        items[1] = PyUnicode_FromString(r->reason);
        return pp_tuple(items, 2);
    }
    items[0] = PyLong_FromLong(PP_DONE);
    items[1] = PyLong_FromSize_t(r->consumed);
    items[2] = PyLong_FromLong(r->version);
    items[3] = PyLong_FromLong(r->command);
    items[4] = PyLong_FromLong(r->family);
    items[5] = PyLong_FromLong(r->transport);
    items[6] = PyBytes_FromStringAndSize((const char *)r->src, (Py_ssize_t)r->addr_len);
    items[7] = PyLong_FromUnsignedLong(r->sport);
    items[8] = PyBytes_FromStringAndSize((const char *)r->dst, (Py_ssize_t)r->addr_len);
    items[9] = PyLong_FromUnsignedLong(r->dport);
    items[10] = pp_tlvs(d, r);
    items[11] = PyBool_FromLong(r->crc);
    return pp_tuple(items, 12);
}

PyDoc_STRVAR(parse_doc,
"parse(data, limit=65551, /)\n--\n\n"
"Parse a PROXY protocol header at the start of data: (0, total or 0) needs more bytes; (1, reason) is invalid;\n"
"(2, consumed, version, command, family, transport, src, sport, dst, dport, tlvs, crc_checked) is complete.");

static PyObject *py_parse(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    size_t limit = PP_V2_MAX;
    pp_result r;
    PyObject *answer;
    (void)module;
    if (nargs < 1 || nargs > 2) {
        PyErr_Format(PyExc_TypeError, "parse() takes 1 or 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (nargs == 2) {
        Py_ssize_t value;
        if (!PyLong_Check(args[1]) || PyBool_Check(args[1])) {
            PyErr_SetString(PyExc_TypeError, "limit must be an int");
            return NULL;
        }
        value = PyLong_AsSsize_t(args[1]);
        if (value == -1 && PyErr_Occurred())
            PyErr_Clear();
        if (value < PP_V2_FIXED || value > PP_V2_MAX) {
            PyErr_SetString(PyExc_ValueError, "limit must be 16..65551 (the v2 fixed header to the largest v2 header)");
            return NULL;
        }
        limit = (size_t)value;
    }
    if (PyBytes_CheckExact(args[0])) {  /* the common case: no buffer protocol, nothing to release */
        const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(args[0]);
        pp_parse(d, (size_t)PyBytes_GET_SIZE(args[0]), limit, &r);
        return pp_answer(d, &r);  /* args[0] is held by the caller for the whole call */
    }
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) != 0) {
        PyErr_Format(PyExc_TypeError, "data must be a bytes-like object, not %.100s", Py_TYPE(args[0])->tp_name);
        return NULL;
    }
    pp_parse(view.buf, (size_t)view.len, limit, &r);
    answer = pp_answer(view.buf, &r);  /* the export keeps a bytearray from resizing while TLVs are copied */
    PyBuffer_Release(&view);
    return answer;
}

static PyMethodDef pp_methods[] = {
    {"parse", (PyCFunction)(void (*)(void))py_parse, METH_FASTCALL, parse_doc},
    {NULL, NULL, 0, NULL},
};

static int pp_exec(PyObject *module)
{
    if (PyModule_AddIntConstant(module, "V1_MAX", PP_V1_MAX) != 0)
        return -1;
    return PyModule_AddIntConstant(module, "V2_MAX", PP_V2_MAX);
}

static PyModuleDef_Slot pp_slots[] = {
    {Py_mod_exec, pp_exec},
    {0, NULL},
};

static struct PyModuleDef pp_module = {
    PyModuleDef_HEAD_INIT,
    "realip_toa._proxy",
    "C parser for the PROXY protocol header (v1 and v2). Bytes in, tuples out, no policy.",
    0,
    pp_methods,
    pp_slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__proxy(void)
{
    return PyModuleDef_Init(&pp_module);
}
#endif /* REALIP_PROXY_NO_PYTHON */
