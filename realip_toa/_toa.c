/*
 * realip_toa._toa: parse TCP options and IPv4/IPv6 TCP packets for a TOA (client address) option.
 *
 * Small and boring on purpose: bytes in, tuples out, no policy. Every read is checked against the buffer
 * length and the lengths the headers claim; malformed or truncated input ends the parse quietly.
 * realip_toa/_pure.py is the reference: same functions, same answers (tests/toa checks both on every vector
 * and on random bytes).
 *
 * Built with -DREALIP_TOA_NO_PYTHON the Python glue is left out, so the fuzz harness (tests/toa/fuzz_toa.c)
 * can compile the parsing core alone under libFuzzer and AddressSanitizer.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TOA_MAX_EXT_HEADERS 8
#define TOA_MAX_KINDS_BYTES 512

typedef struct {
    int found;
    unsigned char kind;
    unsigned char addr[16];
    size_t addr_len;
    unsigned int port;
} toa_option;

typedef struct {
    int version;
    unsigned char src[16];
    unsigned char dst[16];
    size_t addr_len;
    unsigned int sport;
    unsigned int dport;
    unsigned int flags;
    toa_option toa;
    uint32_t seq;
    uint32_t ack;
    int checksum;           /* 1: the TCP checksum is right; 0: wrong; -1: cannot be checked (see toa_checksum) */
} toa_packet;

/* 0 if the packed (kind, length) table is well formed, -1 if not. */
static int toa_check_kinds(const unsigned char *kinds, size_t n)
{
    size_t i;
    if (n % 2 != 0 || n > TOA_MAX_KINDS_BYTES)
        return -1;
    for (i = 0; i < n; i += 2) {
        if (kinds[i + 1] != 8 && kinds[i + 1] != 20)
            return -1;
    }
    return 0;
}

static int toa_honoured(const unsigned char *kinds, size_t nkinds, unsigned char kind, unsigned char len)
{
    size_t i;
    for (i = 0; i < nkinds; i += 2) {
        if (kinds[i] == kind && kinds[i + 1] == len)
            return 1;
    }
    return 0;
}

/* Scan data[start, end) (end <= buffer length) for the first honoured option. */
static void toa_scan(const unsigned char *data, size_t start, size_t end,
                     const unsigned char *kinds, size_t nkinds, toa_option *out)
{
    size_t i = start;
    out->found = 0;
    while (i < end) {
        unsigned char kind = data[i];
        unsigned char len;
        if (kind == 0)
            return;                 /* EOL */
        if (kind == 1) {
            i += 1;                 /* NOP */
            continue;
        }
        if (i + 1 >= end)
            return;                 /* kind without length */
        len = data[i + 1];
        if (len < 2 || len > end - i)
            return;                 /* malformed, or runs past the header */
        if (toa_honoured(kinds, nkinds, kind, len)) {
            out->found = 1;
            out->kind = kind;
            out->port = ((unsigned int)data[i + 2] << 8) | data[i + 3];
            out->addr_len = (size_t)len - 4;   /* 4 or 16: table lengths are 8 or 20 */
            memcpy(out->addr, data + i + 4, out->addr_len);
            return;
        }
        i += len;
    }
}

/* The TCP checksum verdict of the segment d[tcp, end) (end: the length the IP header declares): 1 right, 0 wrong,
 * -1 when it cannot be checked here: the buffer holds less than the declared segment (a capture cut it), an IPv6
 * jumbogram, or a routing header (the pseudo-header's destination would be the final hop's). */
static int toa_checksum(const unsigned char *d, size_t n, int version, size_t tcp, size_t end, int routed)
{
    uint64_t sum = 0;
    size_t i, len;
    if (end == 0 || end > n || routed || end < tcp)
        return -1;
    len = end - tcp;
    if (version == 4) {
        for (i = 12; i < 20; i += 2)
            sum += ((uint32_t)d[i] << 8) | d[i + 1];
    } else {
        for (i = 8; i < 40; i += 2)
            sum += ((uint32_t)d[i] << 8) | d[i + 1];
        sum += (uint64_t)(len >> 16);
    }
    sum += 6 + (uint64_t)(len & 0xFFFF);
    for (i = tcp; i + 1 < end; i += 2)
        sum += ((uint32_t)d[i] << 8) | d[i + 1];
    if (len & 1)
        sum += (uint32_t)d[end - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return sum == 0xFFFF ? 1 : 0;
}

/* 1 if a TCP segment was parsed into *out, 0 if not. */
static int toa_parse_packet(const unsigned char *data, size_t n,
                            const unsigned char *kinds, size_t nkinds, toa_packet *out)
{
    size_t end, tcp, doff, opt_end, declared;
    unsigned int nxt;
    int i, routed = 0;

    if (n < 1)
        return 0;
    out->version = data[0] >> 4;
    if (out->version == 4) {
        size_t ihl, total;
        if (n < 20)
            return 0;
        ihl = (size_t)(data[0] & 0x0F) * 4;
        total = ((size_t)data[2] << 8) | data[3];
        if (ihl < 20 || total < ihl || n < ihl)
            return 0;
        if (data[9] != 6 || ((((unsigned int)data[6] & 0x1F) << 8) | data[7]) != 0)
            return 0;
        end = n < total ? n : total;
        declared = total;
        memcpy(out->src, data + 12, 4);
        memcpy(out->dst, data + 16, 4);
        out->addr_len = 4;
        tcp = ihl;
    } else if (out->version == 6) {
        size_t payload;
        if (n < 40)
            return 0;
        payload = ((size_t)data[4] << 8) | data[5];
        end = payload ? (n < 40 + payload ? n : 40 + payload) : n;
        declared = payload ? 40 + payload : 0;
        memcpy(out->src, data + 8, 16);
        memcpy(out->dst, data + 24, 16);
        out->addr_len = 16;
        nxt = data[6];
        tcp = 40;
        for (i = 0;; i++) {
            if (nxt == 6)
                break;
            if (i == TOA_MAX_EXT_HEADERS)
                return 0;
            if (nxt == 0 || nxt == 43 || nxt == 60) {
                if (tcp > end || end - tcp < 2)
                    return 0;
                routed |= nxt == 43;
                nxt = data[tcp];
                tcp += ((size_t)data[tcp + 1] + 1) * 8;
            } else if (nxt == 44) {
                if (tcp > end || end - tcp < 8)
                    return 0;
                if (((((unsigned int)data[tcp + 2]) << 8) | data[tcp + 3]) >> 3)
                    return 0;
                nxt = data[tcp];
                tcp += 8;
            } else if (nxt == 51) {
                if (tcp > end || end - tcp < 2)
                    return 0;
                nxt = data[tcp];
                tcp += ((size_t)data[tcp + 1] + 2) * 4;
            } else {
                return 0;
            }
        }
    } else {
        return 0;
    }
    if (tcp > end || end - tcp < 20)
        return 0;
    out->sport = ((unsigned int)data[tcp] << 8) | data[tcp + 1];
    out->dport = ((unsigned int)data[tcp + 2] << 8) | data[tcp + 3];
    out->flags = data[tcp + 13];
    out->seq = ((uint32_t)data[tcp + 4] << 24) | ((uint32_t)data[tcp + 5] << 16) |
               ((uint32_t)data[tcp + 6] << 8) | data[tcp + 7];
    out->ack = ((uint32_t)data[tcp + 8] << 24) | ((uint32_t)data[tcp + 9] << 16) |
               ((uint32_t)data[tcp + 10] << 8) | data[tcp + 11];
    doff = (size_t)(data[tcp + 12] >> 4) * 4;
    if (doff < 20)
        return 0;
    out->checksum = toa_checksum(data, n, out->version, tcp, declared, routed);
    opt_end = (end - tcp < doff) ? end : tcp + doff;
    toa_scan(data, tcp + 20, opt_end, kinds, nkinds, &out->toa);
    return 1;
}

#ifndef REALIP_TOA_NO_PYTHON
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* (kind, packed address, port), built directly: this runs once per captured packet. */
static PyObject *toa_option_object(const toa_option *opt)
{
    PyObject *kind, *addr, *port, *result;
    if (!opt->found)
        Py_RETURN_NONE;
    kind = PyLong_FromLong((long)opt->kind);
    addr = PyBytes_FromStringAndSize((const char *)opt->addr, (Py_ssize_t)opt->addr_len);
    port = PyLong_FromUnsignedLong((unsigned long)opt->port);
    result = PyTuple_New(3);
    if (kind == NULL || addr == NULL || port == NULL || result == NULL) {
        Py_XDECREF(kind);
        Py_XDECREF(addr);
        Py_XDECREF(port);
        Py_XDECREF(result);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, kind);  /* steals the references */
    PyTuple_SET_ITEM(result, 1, addr);
    PyTuple_SET_ITEM(result, 2, port);
    return result;
}

/* A bytes-like argument as a buffer: bytes directly (the common case, no copy, no buffer protocol), others through
 * the buffer protocol. Returns 0, or -1 with TypeError set. Release with toa_release. */
static int toa_buffer(PyObject *obj, Py_buffer *view, const char *what)
{
    if (PyBytes_CheckExact(obj)) {
        view->obj = NULL;
        view->buf = PyBytes_AS_STRING(obj);
        view->len = PyBytes_GET_SIZE(obj);
        return 0;
    }
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) != 0) {
        PyErr_Format(PyExc_TypeError, "%s must be a bytes-like object, not %.100s", what, Py_TYPE(obj)->tp_name);
        return -1;
    }
    return 0;
}

static void toa_release(Py_buffer *view)
{
    if (view->obj != NULL)
        PyBuffer_Release(view);
}

/* Parse the (data, kinds) arguments shared by both functions; 0 on success. */
static int toa_args(PyObject *const *args, Py_ssize_t nargs, const char *name, const char *what,
                    Py_buffer *data, Py_buffer *kinds)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly 2 arguments (%zd given)", name, nargs);
        return -1;
    }
    if (toa_buffer(args[0], data, what) != 0)
        return -1;
    if (toa_buffer(args[1], kinds, "kinds") != 0) {
        toa_release(data);
        return -1;
    }
    if (toa_check_kinds(kinds->buf, (size_t)kinds->len) != 0) {
        toa_release(data);
        toa_release(kinds);
        PyErr_SetString(PyExc_ValueError,
                        "kinds must be (kind, length) byte pairs, at most 256, each length 8 (IPv4) or 20 (IPv6)");
        return -1;
    }
    return 0;
}

/* (ip_version, src, sport, dst, dport, tcp_flags, toa, seq, ack, checksum), built directly: this runs once per
 * captured packet. */
static PyObject *toa_packet_object(const toa_packet *pkt)
{
    PyObject *items[10];
    PyObject *result;
    int i;
    items[0] = PyLong_FromLong((long)pkt->version);
    items[1] = PyBytes_FromStringAndSize((const char *)pkt->src, (Py_ssize_t)pkt->addr_len);
    items[2] = PyLong_FromUnsignedLong((unsigned long)pkt->sport);
    items[3] = PyBytes_FromStringAndSize((const char *)pkt->dst, (Py_ssize_t)pkt->addr_len);
    items[4] = PyLong_FromUnsignedLong((unsigned long)pkt->dport);
    items[5] = PyLong_FromUnsignedLong((unsigned long)pkt->flags);
    items[6] = toa_option_object(&pkt->toa);
    items[7] = PyLong_FromUnsignedLong((unsigned long)pkt->seq);
    items[8] = PyLong_FromUnsignedLong((unsigned long)pkt->ack);
    items[9] = PyLong_FromLong((long)pkt->checksum);
    result = PyTuple_New(10);
    for (i = 0; i < 10; i++) {
        if (items[i] == NULL || result == NULL) {
            for (i = 0; i < 10; i++)
                Py_XDECREF(items[i]);
            Py_XDECREF(result);
            return NULL;
        }
    }
    for (i = 0; i < 10; i++)
        PyTuple_SET_ITEM(result, i, items[i]);  /* steals the references */
    return result;
}

PyDoc_STRVAR(parse_options_doc,
"parse_options(options, kinds, /)\n--\n\n"
"First honoured TOA in a TCP options block as (kind, packed address, port), else None.");

static PyObject *py_parse_options(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer options, kinds;
    toa_option opt;
    (void)module;
    if (toa_args(args, nargs, "parse_options", "options", &options, &kinds) != 0)
        return NULL;
    toa_scan(options.buf, 0, (size_t)options.len, kinds.buf, (size_t)kinds.len, &opt);
    toa_release(&options);
    toa_release(&kinds);
    return toa_option_object(&opt);
}

PyDoc_STRVAR(parse_packet_doc,
"parse_packet(packet, kinds, /)\n--\n\n"
"Parse an IPv4/IPv6 TCP packet: (ip_version, src, sport, dst, dport, tcp_flags, toa, seq, ack, checksum), else\n"
"None. checksum is 1 (right), 0 (wrong) or -1 (cannot be checked: cut by the capture, jumbogram, routing header).");

static PyObject *py_parse_packet(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer packet, kinds;
    toa_packet pkt;
    int ok;
    (void)module;
    if (toa_args(args, nargs, "parse_packet", "packet", &packet, &kinds) != 0)
        return NULL;
    memset(&pkt, 0, sizeof pkt);
    ok = toa_parse_packet(packet.buf, (size_t)packet.len, kinds.buf, (size_t)kinds.len, &pkt);
    toa_release(&packet);
    toa_release(&kinds);
    if (!ok)
        Py_RETURN_NONE;
    return toa_packet_object(&pkt);
}

static PyMethodDef toa_methods[] = {
    {"parse_options", (PyCFunction)(void (*)(void))py_parse_options, METH_FASTCALL, parse_options_doc},
    {"parse_packet", (PyCFunction)(void (*)(void))py_parse_packet, METH_FASTCALL, parse_packet_doc},
    {NULL, NULL, 0, NULL},
};

static int toa_exec(PyObject *module)
{
    return PyModule_AddIntConstant(module, "MAX_EXT_HEADERS", TOA_MAX_EXT_HEADERS);
}

static PyModuleDef_Slot toa_slots[] = {
    {Py_mod_exec, toa_exec},
    {0, NULL},
};

static struct PyModuleDef toa_module = {
    PyModuleDef_HEAD_INIT,
    "realip_toa._toa",
    "C parser for TCP options that carry the client address (TOA). Bytes in, tuples out, no policy.",
    0,
    toa_methods,
    toa_slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__toa(void)
{
    return PyModuleDef_Init(&toa_module);
}
#endif /* REALIP_TOA_NO_PYTHON */
