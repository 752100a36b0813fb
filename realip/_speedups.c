/*
 * realip._speedups: the most common request, in C, from the header to the rewritten scope or environ.
 *
 * Fast(config) holds one Resolver's configuration (its trust tables copied into sorted integer arrays once).
 * Fast.resolve(peer, headers) handles exactly what Resolver._resolve_fast handles in Python (realip/resolver.py, the
 * reference): a "(host, port)" peer (IPv4 or IPv6), ASGI-style header pairs, one list header, entries that are
 * addresses in the usual forms (a.b.c.d, a.b.c.d:port, IPv6 bare or bracketed, [v6]:port). For anything else (a
 * quoted entry, a zone id, other characters, repeated header lines, unusual types) it returns None before building
 * anything and Python takes over, so the answers are the same by construction. Fast.rewrite_scope and
 * Fast.rewrite_environ do the same for a whole ASGI scope or WSGI environ, writing what the adapters' Python paths
 * (realip/asgi.py, realip/wsgi.py, the references) write, so an adapter makes one call per request. tests/speedups
 * checks all three against Python on generated requests. The trust test is the lookup the Python code does
 * (first-octet index, then one table per prefix length); no policy is decided here.
 *
 * Every read is bounded by the buffer it reads from; nothing is allocated per character.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Indexes into the reasons tuple the caller passes in its configuration. */
enum { R_UNTRUSTED_PEER, R_NO_HEADER, R_UNTRUSTED_ENTRY, R_INVALID_ENTRY, R_HOP_LIMIT, R_ALL_TRUSTED, R_TOA, R_COUNT };

/* Outcome of looking at one text: valid, invalid (the walk stops), or not ours (Python decides). */
enum { NOT_OURS = -1, INVALID = 0, VALID = 1 };

/* The strict dotted quad: four parts of 1-3 digits, no leading zero, each <= 255, nothing else. */
static int parse_dotted_quad(const unsigned char *s, Py_ssize_t n, uint32_t *out)
{
    uint32_t value = 0;
    Py_ssize_t i = 0;
    int part;
    for (part = 0; part < 4; part++) {
        Py_ssize_t start = i;
        unsigned int octet = 0;
        if (part > 0) {
            if (i >= n || s[i] != '.')
                return INVALID;
            start = ++i;
        }
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (i - start == 3)
                return INVALID;
            octet = octet * 10 + (unsigned int)(s[i] - '0');
            i++;
        }
        if (i == start || (i - start > 1 && s[start] == '0') || octet > 255)
            return INVALID;
        value = (value << 8) | octet;
    }
    if (i != n)
        return INVALID;
    *out = value;
    return VALID;
}

/* A parsed address: IPv4 in v4 (v6 == 0), else the 16 bytes; canonical text in text[0..text_len). */
typedef struct {
    int v6;
    uint32_t v4;
    unsigned char bytes[16];
    char text[48];
    int text_len;
    long port;              /* -1: none */
} address;

static inline int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 5952 text of an IPv6 address: lowercase, no leading zeros, the first longest run (>= 2) of zero groups as
 * "::". Matches Python's ipaddress and glibc's inet_ntop for every non-IPv4-mapped address. */
static int format_v6(const unsigned char *b, char *out)
{
    unsigned int groups[8];
    int i, best = -1, best_len = 0, run = -1, run_len = 0, n = 0;
    for (i = 0; i < 8; i++)
        groups[i] = ((unsigned int)b[2 * i] << 8) | b[2 * i + 1];
    for (i = 0; i < 8; i++) {
        if (groups[i] == 0) {
            if (run < 0) {
                run = i;
                run_len = 0;
            }
            run_len++;
            if (run_len > best_len) {
                best = run;
                best_len = run_len;
            }
        } else {
            run = -1;
        }
    }
    if (best_len < 2)
        best = -1;
    for (i = 0; i < 8; i++) {
        if (i == best) {
            out[n++] = ':';
            out[n++] = ':';
            i += best_len - 1;
            continue;
        }
        if (n > 0 && out[n - 1] != ':')
            out[n++] = ':';
        n += snprintf(out + n, 6, "%x", groups[i]);
    }
    out[n] = 0;
    return n;
}

/* An IPv6 address text (no brackets, no port, no zone) into *a; IPv4-mapped becomes IPv4. */
static int parse_v6_text(const unsigned char *s, Py_ssize_t n, address *a)
{
    char buf[64];
    Py_ssize_t i;
    if (n >= (Py_ssize_t)sizeof buf)
        return INVALID;
    for (i = 0; i < n; i++) {
        if (!is_hex(s[i]) && s[i] != ':' && s[i] != '.')
            return INVALID;
    }
    memcpy(buf, s, (size_t)n);
    buf[n] = 0;
    if (inet_pton(AF_INET6, buf, a->bytes) != 1)
        return INVALID;
    for (i = 0; i < 10; i++) {
        if (a->bytes[i] != 0)
            break;
    }
    if (i == 10 && a->bytes[10] == 0xff && a->bytes[11] == 0xff) {
        const unsigned char *q = a->bytes + 12;
        a->v6 = 0;
        a->v4 = ((uint32_t)q[0] << 24) | ((uint32_t)q[1] << 16) | ((uint32_t)q[2] << 8) | q[3];
        a->text_len = snprintf(a->text, sizeof a->text, "%u.%u.%u.%u", q[0], q[1], q[2], q[3]);
        return VALID;
    }
    a->v6 = 1;
    a->text_len = format_v6(a->bytes, a->text);
    return VALID;
}

/* 1 to 5 ASCII digits, at most 65535. */
static int parse_port(const unsigned char *s, Py_ssize_t n, long *port)
{
    Py_ssize_t i;
    long p = 0;
    if (n < 1 || n > 5)
        return INVALID;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return INVALID;
        p = p * 10 + (s[i] - '0');
    }
    if (p > 65535)
        return INVALID;
    *port = p;
    return VALID;
}

/* One trimmed entry, in the forms realip/_address.py accepts, except quotes and zone ids (Python's). */
static int parse_entry(const unsigned char *s, Py_ssize_t n, address *a)
{
    Py_ssize_t i, colons = 0, first_colon = -1;
    a->port = -1;
    /* The usual entry, a bare dotted quad, in one pass (the checks below would reach the same answer). */
    if (n <= 15 && parse_dotted_quad(s, n, &a->v4) == VALID) {
        a->v6 = 0;
        memcpy(a->text, s, (size_t)n);
        a->text_len = (int)n;
        return VALID;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == ':') {
            if (first_colon < 0)
                first_colon = i;
            colons++;
        } else if (!is_hex(c) && c != '.' && c != '[' && c != ']') {
            return NOT_OURS;            /* quotes, zone ids, anything else: Python decides */
        }
    }
    if (n > 0 && s[0] == '[') {
        Py_ssize_t close = 1;
        while (close < n && s[close] != ']')
            close++;
        if (close == n)
            return INVALID;
        if (close + 1 < n) {
            if (s[close + 1] != ':' || parse_port(s + close + 2, n - close - 2, &a->port) != VALID)
                return INVALID;
        }
        return parse_v6_text(s + 1, close - 1, a);
    }
    if (colons == 0 || colons == 1) {
        Py_ssize_t host = colons ? first_colon : n;
        if (colons && parse_port(s + first_colon + 1, n - first_colon - 1, &a->port) != VALID)
            return INVALID;
        if (parse_dotted_quad(s, host, &a->v4) != VALID)
            return INVALID;
        a->v6 = 0;
        memcpy(a->text, s, (size_t)host);
        a->text_len = (int)host;
        return VALID;
    }
    return parse_v6_text(s, n, a);
}

/* The trust tables, copied once from the Python ones (realip/_trust.py): for each prefix length, the sorted network
 * numbers (address >> shift). A lookup is a few binary searches over plain integers: no allocation per request. */
typedef struct {
    int shift;
    Py_ssize_t count;
    uint32_t *keys;
} table4;

typedef struct {
    int shift;
    Py_ssize_t count;
    uint64_t *keys;         /* pairs: high 64 bits, low 64 bits */
} table6;

/* Key strings, interned once. */
static PyObject *k_client, *k_headers, *k_state, *k_realip, *k_type, *k_http, *k_websocket, *k_remote_addr,
    *k_remote_port, *k_url_scheme, *k_orig, *k_result;

typedef struct {
    PyObject_HEAD
    PyObject *name_bytes, *name_str, *octets, *result_type, *reasons, *peer_word, *environ_key, *toa_word;
    PyObject *zero, *empty;
    const char *name;
    Py_ssize_t name_len;
    const unsigned char *octet_table;
    long max_hops;
    table4 *v4;
    Py_ssize_t v4_count;
    table6 *v6;
    Py_ssize_t v6_count;
} Fast;

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_u128(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    if (x[0] != y[0])
        return (x[0] > y[0]) - (x[0] < y[0]);
    return (x[1] > y[1]) - (x[1] < y[1]);
}

/* ((shift, frozenset of ints), ...) into C arrays; bits is 32 or 128. 0 ok, -1 error. */
static int load_tables(PyObject *tables, int bits, void **out, Py_ssize_t *out_count)
{
    Py_ssize_t i, count;
    if (!PyTuple_CheckExact(tables)) {
        PyErr_SetString(PyExc_TypeError, "Fast(): a trust table is not a tuple");
        return -1;
    }
    count = PyTuple_GET_SIZE(tables);
    *out_count = 0;
    *out = PyMem_Calloc((size_t)(count ? count : 1), bits == 32 ? sizeof(table4) : sizeof(table6));
    if (*out == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (i = 0; i < count; i++) {
        PyObject *pair = PyTuple_GET_ITEM(tables, i), *keys, *iterator, *item;
        long shift;
        Py_ssize_t size, j = 0;
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            !PyFrozenSet_CheckExact(PyTuple_GET_ITEM(pair, 1))) {
            PyErr_SetString(PyExc_TypeError, "Fast(): a trust table entry is not (shift, frozenset)");
            return -1;
        }
        shift = PyLong_AsLong(PyTuple_GET_ITEM(pair, 0));
        if (shift < 0 || shift > bits) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "Fast(): a shift is out of range");
            return -1;
        }
        keys = PyTuple_GET_ITEM(pair, 1);
        size = PySet_GET_SIZE(keys);
        if (bits == 32) {
            table4 *t = (table4 *)*out + i;
            t->shift = (int)shift;
            t->keys = PyMem_Calloc((size_t)(size ? size : 1), sizeof(uint32_t));
            if (t->keys == NULL) {
                PyErr_NoMemory();
                return -1;
            }
        } else {
            table6 *t = (table6 *)*out + i;
            t->shift = (int)shift;
            t->keys = PyMem_Calloc((size_t)(size ? size : 1), 2 * sizeof(uint64_t));
            if (t->keys == NULL) {
                PyErr_NoMemory();
                return -1;
            }
        }
        *out_count = i + 1;     /* from here on the dealloc frees this table's keys */
        iterator = PyObject_GetIter(keys);
        if (iterator == NULL)
            return -1;
        while ((item = PyIter_Next(iterator)) != NULL) {
            unsigned char bytes[16];
            int failed = !PyLong_CheckExact(item) || j >= size ||
                         _PyLong_AsByteArray((PyLongObject *)item, bytes, 16, 0, 0) < 0;
            Py_DECREF(item);
            if (failed) {
                Py_DECREF(iterator);
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "Fast(): a network number is not a 128-bit int");
                return -1;
            }
            if (bits == 32) {
                table4 *t = (table4 *)*out + i;
                if (memcmp(bytes, "\0\0\0\0\0\0\0\0\0\0\0\0", 12) != 0) {
                    Py_DECREF(iterator);
                    PyErr_SetString(PyExc_ValueError, "Fast(): an IPv4 network number is over 32 bits");
                    return -1;
                }
                t->keys[j] = ((uint32_t)bytes[12] << 24) | ((uint32_t)bytes[13] << 16) | ((uint32_t)bytes[14] << 8) |
                             bytes[15];
            } else {
                table6 *t = (table6 *)*out + i;
                uint64_t hi = 0, lo = 0;
                int b;
                for (b = 0; b < 8; b++) {
                    hi = (hi << 8) | bytes[b];
                    lo = (lo << 8) | bytes[8 + b];
                }
                t->keys[2 * j] = hi;
                t->keys[2 * j + 1] = lo;
            }
            j++;
        }
        Py_DECREF(iterator);
        if (PyErr_Occurred())
            return -1;
        if (bits == 32) {
            table4 *t = (table4 *)*out + i;
            t->count = j;
            qsort(t->keys, (size_t)j, sizeof(uint32_t), cmp_u32);
        } else {
            table6 *t = (table6 *)*out + i;
            t->count = j;
            qsort(t->keys, (size_t)j, 2 * sizeof(uint64_t), cmp_u128);
        }
    }
    return 0;
}

static int has_u32(const uint32_t *keys, Py_ssize_t count, uint32_t key)
{
    Py_ssize_t lo = 0, hi = count;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (keys[mid] == key)
            return 1;
        if (keys[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int has_u128(const uint64_t *keys, Py_ssize_t count, const uint64_t key[2])
{
    Py_ssize_t lo = 0, hi = count;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        int c = cmp_u128(keys + 2 * mid, key);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* 1 trusted, 0 not: the first-octet index, then the tables, as TrustedNetworks.contains does. */
static int trusted(const Fast *f, const address *a)
{
    Py_ssize_t i;
    if (!a->v6) {
        unsigned char o = f->octet_table[a->v4 >> 24];
        if (o != 2)
            return o == 1;
        for (i = 0; i < f->v4_count; i++) {
            const table4 *t = f->v4 + i;
            uint32_t key = t->shift == 32 ? 0 : a->v4 >> t->shift;
            if (has_u32(t->keys, t->count, key))
                return 1;
        }
        return 0;
    }
    {
        uint64_t hi = 0, lo = 0, key[2];
        int b;
        for (b = 0; b < 8; b++) {
            hi = (hi << 8) | a->bytes[b];
            lo = (lo << 8) | a->bytes[8 + b];
        }
        for (i = 0; i < f->v6_count; i++) {
            const table6 *t = f->v6 + i;
            int s = t->shift;
            if (s == 0) {
                key[0] = hi;
                key[1] = lo;
            } else if (s < 64) {
                key[0] = hi >> s;
                key[1] = (lo >> s) | (hi << (64 - s));
            } else if (s < 128) {
                key[0] = 0;
                key[1] = hi >> (s - 64);
            } else {
                key[0] = key[1] = 0;
            }
            if (has_u128(t->keys, t->count, key))
                return 1;
        }
        return 0;
    }
}

/* Case-insensitive ASCII comparison of n bytes against a lowercase name. */
static int same_name(const char *s, const char *lower, Py_ssize_t n)
{
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + ('a' - 'A'));
        if (c != (unsigned char)lower[i])
            return 0;
    }
    return 1;
}

/* The ASCII bytes of a header name or value: bytes as they are, str only when ASCII. 0 ok, -1 not ours. */
static int ascii_view(PyObject *obj, const char **data, Py_ssize_t *size)
{
    if (PyBytes_CheckExact(obj)) {
        *data = PyBytes_AS_STRING(obj);
        *size = PyBytes_GET_SIZE(obj);
        return 0;
    }
    if (PyUnicode_CheckExact(obj) && PyUnicode_IS_ASCII(obj)) {
        *data = (const char *)PyUnicode_1BYTE_DATA(obj);
        *size = PyUnicode_GET_LENGTH(obj);
        return 0;
    }
    return -1;
}

/* A str of ASCII text we produced (canonical address text), without a UTF-8 decoding pass. */
static PyObject *ascii_str(const char *text, Py_ssize_t size)
{
    PyObject *str = PyUnicode_New(size, 127);
    if (str != NULL)
        memcpy(PyUnicode_1BYTE_DATA(str), text, (size_t)size);
    return str;
}

static PyObject *make_result(PyTypeObject *type, PyObject *items[9])
{
    PyObject *result = type->tp_alloc(type, 9);
    int i;
    if (result == NULL)
        return NULL;
    for (i = 0; i < 9; i++) {
        Py_INCREF(items[i]);
        PyTuple_SET_ITEM(result, i, items[i]);
    }
    return result;
}

/* Where the forwarding header's value comes from: 0 found (value NULL: no header), -1 not ours (Python decides).
 * *owner is the (borrowed) object holding the value's bytes, which the caller keeps alive while it reads them. */
typedef int (*find_value)(const Fast *f, PyObject *source, const char **value, Py_ssize_t *size, PyObject **owner);

/* ASGI-style header pairs: exactly one line of the configured name. */
static int value_in_list(const Fast *f, PyObject *headers, const char **value, Py_ssize_t *size, PyObject **owner)
{
    Py_ssize_t i, count;
    if (!PyList_CheckExact(headers))
        return -1;
    count = PyList_GET_SIZE(headers);
    for (i = 0; i < count; i++) {
        PyObject *pair = PyList_GET_ITEM(headers, i);
        const char *n;
        Py_ssize_t nlen;
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            ascii_view(PyTuple_GET_ITEM(pair, 0), &n, &nlen) != 0)
            return -1;
        if (nlen != f->name_len || !same_name(n, f->name, nlen))
            continue;
        if (*value != NULL)
            return -1;                  /* repeated lines: Python joins them */
        *owner = PyTuple_GET_ITEM(pair, 1);
        if (ascii_view(*owner, value, size) != 0)
            return -1;
    }
    return 0;
}

/* A WSGI environ value (NULL: absent): an ASCII str. */
static int value_in_environ(const Fast *f, PyObject *text, const char **value, Py_ssize_t *size, PyObject **owner)
{
    (void)f;
    if (text == NULL)
        return 0;
    if (!PyUnicode_CheckExact(text))
        return -1;
    *owner = text;
    return ascii_view(text, value, size);
}

/* The Result for a peer host (str) and port (an int, else treated as None) and the header found by `find` in
 * `source`; None when Python must decide; NULL with an exception set on failure. */
static PyObject *resolve_core(const Fast *f, PyObject *host, PyObject *port, find_value find, PyObject *source)
{
    const char *host_data, *value = NULL;
    Py_ssize_t host_len, value_len = 0, stop, examined = 0;
    address peer_address, entry;
    int reason = R_ALL_TRUSTED, from_header = 0;
    PyObject *peer_ip = NULL, *passed = NULL, *client_ip = NULL, *client_port = NULL, *items[9], *result = NULL;
    PyObject *owner = NULL;

    /* The peer: an ASCII str holding an address (no brackets, no port); anything else is Python's. */
    if (!PyUnicode_CheckExact(host) || ascii_view(host, &host_data, &host_len) != 0 || host_len == 0 ||
        host_data[0] == '[' || parse_entry((const unsigned char *)host_data, host_len, &peer_address) != VALID ||
        peer_address.port >= 0)
        Py_RETURN_NONE;
    if (!PyLong_CheckExact(port))
        port = Py_None;
    /* Held, like the header value below: an allocation may run a collection and any finalizer, and such code could
     * drop the caller's references (by rewriting the scope, say). */
    Py_INCREF(port);
    if (peer_address.text_len == host_len && memcmp(peer_address.text, host_data, (size_t)host_len) == 0) {
        peer_ip = host;                 /* already canonical: no new string */
        Py_INCREF(peer_ip);
    } else {
        peer_ip = ascii_str(peer_address.text, peer_address.text_len);
        if (peer_ip == NULL)
            goto done;
    }
    if (!trusted(f, &peer_address)) {
        PyObject *untrusted[9] = {peer_ip, port, f->peer_word, peer_ip, f->empty, Py_None,
                                  PyTuple_GET_ITEM(f->reasons, R_UNTRUSTED_PEER), port, f->zero};
        result = make_result((PyTypeObject *)f->result_type, untrusted);
        goto done;
    }
    if (find(f, source, &value, &value_len, &owner) != 0) {
        owner = NULL;                   /* not held yet */
        goto not_ours;
    }
    Py_XINCREF(owner);                  /* the bytes of the value are read while objects are allocated */

    passed = PyList_New(0);
    if (passed == NULL)
        goto done;
    if (value != NULL && PyList_Append(passed, peer_ip) < 0)
        goto done;
    client_ip = peer_ip;
    Py_INCREF(client_ip);
    client_port = port;
    Py_INCREF(client_port);

    /* The walk, from the right: empty elements skipped, at most max_hops entries examined. */
    stop = value_len;
    while (value != NULL) {
        Py_ssize_t start = stop, a, b;
        int kind;
        while (start > 0 && value[start - 1] != ',')
            start--;
        a = start;
        b = stop;
        while (a < b && (value[a] == ' ' || value[a] == '\t'))
            a++;
        while (b > a && (value[b - 1] == ' ' || value[b - 1] == '\t'))
            b--;
        if (a < b) {
            if (examined == f->max_hops) {
                reason = R_HOP_LIMIT;
                break;
            }
            kind = parse_entry((const unsigned char *)value + a, b - a, &entry);
            if (kind == NOT_OURS)
                goto not_ours;
            examined++;
            if (kind == INVALID) {
                reason = R_INVALID_ENTRY;
                break;
            }
            Py_SETREF(client_ip, ascii_str(entry.text, entry.text_len));
            if (client_ip == NULL)
                goto done;
            if (entry.port >= 0) {
                Py_SETREF(client_port, PyLong_FromLong(entry.port));
            } else {
                Py_INCREF(Py_None);
                Py_SETREF(client_port, Py_None);
            }
            if (client_port == NULL)
                goto done;
            from_header = 1;
            if (!trusted(f, &entry)) {
                reason = R_UNTRUSTED_ENTRY;
                break;
            }
            if (PyList_Append(passed, client_ip) < 0)
                goto done;
        }
        if (start == 0)
            break;
        stop = start - 1;
    }

    if (examined == 0) {
        reason = R_NO_HEADER;
        if (PyList_SetSlice(passed, 0, PyList_GET_SIZE(passed), NULL) < 0)
            goto done;
    } else if (reason != R_UNTRUSTED_ENTRY && PyList_GET_SIZE(passed) > 0 &&
               PyList_SetSlice(passed, PyList_GET_SIZE(passed) - 1, PyList_GET_SIZE(passed), NULL) < 0) {
        goto done;         /* (the client is the last trusted address reached, not a hop passed through) */
    }
    items[0] = client_ip;
    items[1] = client_port;
    items[2] = from_header ? f->name_str : f->peer_word;
    items[3] = peer_ip;
    items[4] = PyList_AsTuple(passed);
    if (items[4] == NULL)
        goto done;
    items[5] = Py_None;
    items[6] = PyTuple_GET_ITEM(f->reasons, reason);
    items[7] = port;
    items[8] = PyLong_FromSsize_t(examined);
    if (items[8] == NULL) {
        Py_DECREF(items[4]);
        goto done;
    }
    result = make_result((PyTypeObject *)f->result_type, items);
    Py_DECREF(items[4]);
    Py_DECREF(items[8]);
    goto done;

not_ours:
    result = Py_None;
    Py_INCREF(result);
done:     /* result is the answer, None (Python decides), or NULL with an exception set */
    Py_DECREF(port);
    Py_XDECREF(owner);
    Py_XDECREF(peer_ip);
    Py_XDECREF(passed);
    Py_XDECREF(client_ip);
    Py_XDECREF(client_port);
    return result;
}

PyDoc_STRVAR(fast_resolve_doc,
"resolve(peer, headers, /)\n--\n\n"
"The Result for a (host, port) peer and a list of header pairs, or None when Python must decide.");

static PyObject *fast_resolve(Fast *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "resolve() takes exactly 2 arguments");
        return NULL;
    }
    if (!PyTuple_CheckExact(args[0]) || PyTuple_GET_SIZE(args[0]) != 2)
        Py_RETURN_NONE;                 /* not an ASGI-style (host, port) peer: Python's */
    return resolve_core(self, PyTuple_GET_ITEM(args[0], 0), PyTuple_GET_ITEM(args[0], 1), value_in_list, args[1]);
}

/* A borrowed dict item, or NULL when absent (*failed set on a lookup error). */
static PyObject *item(PyObject *dict, PyObject *key, int *failed)
{
    PyObject *value = PyDict_GetItemWithError(dict, key);
    if (value == NULL && PyErr_Occurred())
        *failed = 1;
    return value;
}

PyDoc_STRVAR(fast_rewrite_scope_doc,
"rewrite_scope(scope, /)\n--\n\n"
"What realip.asgi.RealIPMiddleware writes for an http or websocket scope (client, state[\"realip\"]), done here;\n"
"returns the Result, or None with the scope untouched when Python must decide (the middleware is the reference).");

static PyObject *fast_rewrite_scope(Fast *self, PyObject *scope)
{
    PyObject *type, *client, *headers, *state, *result, *new_client = NULL, *new_state = NULL;
    int failed = 0;
    if (!PyDict_CheckExact(scope))
        Py_RETURN_NONE;
    type = item(scope, k_type, &failed);
    client = item(scope, k_client, &failed);
    headers = item(scope, k_headers, &failed);
    state = item(scope, k_state, &failed);
    if (failed)
        return NULL;
    if (type == NULL || !PyUnicode_CheckExact(type) ||
        (PyUnicode_Compare(type, k_http) != 0 && PyUnicode_Compare(type, k_websocket) != 0) || client == NULL ||
        !PyTuple_CheckExact(client) || PyTuple_GET_SIZE(client) != 2 || headers == NULL ||
        !PyList_CheckExact(headers) || (state != NULL && state != Py_None && !PyDict_CheckExact(state)))
        Py_RETURN_NONE;
    Py_XINCREF(state);                  /* held across the allocations below (see resolve_core) */
    result = resolve_core(self, PyTuple_GET_ITEM(client, 0), PyTuple_GET_ITEM(client, 1), value_in_list, headers);
    if (result == NULL || result == Py_None) {
        Py_XDECREF(state);
        return result;
    }
    /* client: (client_ip, client_port or 0); the C path's client_ip is always a str. */
    new_client = PyTuple_Pack(2, PyTuple_GET_ITEM(result, 0),
                              PyTuple_GET_ITEM(result, 1) == Py_None ? self->zero : PyTuple_GET_ITEM(result, 1));
    if (new_client == NULL)
        goto fail;
    if (state == NULL || state == Py_None) {
        new_state = PyDict_New();
        if (new_state == NULL || PyDict_SetItem(new_state, k_realip, result) < 0)
            goto fail;
    }
    if (PyDict_SetItem(scope, k_client, new_client) < 0)
        goto fail;
    if (new_state != NULL ? PyDict_SetItem(scope, k_state, new_state) < 0 : PyDict_SetItem(state, k_realip, result) < 0)
        goto fail;
    Py_DECREF(new_client);
    Py_XDECREF(new_state);
    Py_XDECREF(state);
    return result;
fail:
    Py_XDECREF(new_client);
    Py_XDECREF(new_state);
    Py_XDECREF(state);
    Py_DECREF(result);
    return NULL;
}

PyDoc_STRVAR(fast_rewrite_environ_doc,
"rewrite_environ(environ, /)\n--\n\n"
"What realip.wsgi.RealIPMiddleware writes for a request (REMOTE_ADDR, REMOTE_PORT, realip.orig, realip.result),\n"
"done here; returns the Result, or None with the environ untouched when Python must decide.");

static PyObject *fast_rewrite_environ(Fast *self, PyObject *environ)
{
    PyObject *address, *port_text, *scheme, *value, *port = Py_None, *result = NULL, *orig = NULL, *port_out = NULL;
    int failed = 0, replace_port;
    if (!PyDict_CheckExact(environ))
        Py_RETURN_NONE;
    address = item(environ, k_remote_addr, &failed);
    port_text = item(environ, k_remote_port, &failed);
    scheme = item(environ, k_url_scheme, &failed);
    value = item(environ, self->environ_key, &failed);
    if (failed)
        return NULL;
    if (address == NULL || !PyUnicode_CheckExact(address) || PyUnicode_GET_LENGTH(address) == 0)
        Py_RETURN_NONE;                 /* a UNIX socket or an odd server: Python's */
    /* REMOTE_PORT: 1-5 ASCII digits become an int, as the middleware's Python reads it; anything else is None. */
    if (port_text != NULL && PyUnicode_CheckExact(port_text) && PyUnicode_IS_ASCII(port_text)) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(port_text), i;
        const char *digits = (const char *)PyUnicode_1BYTE_DATA(port_text);
        long number = 0;
        for (i = 0; i < n && digits[i] >= '0' && digits[i] <= '9'; i++)
            number = number * 10 + (digits[i] - '0');
        if (n > 0 && n <= 5 && i == n) {
            port = PyLong_FromLong(number);
            if (port == NULL)
                return NULL;
        }
    }
    if (port == Py_None)
        Py_INCREF(port);
    /* The environ's values are read after allocations (see resolve_core): held until the end. */
    Py_INCREF(address);
    Py_XINCREF(port_text);
    Py_XINCREF(scheme);
    result = resolve_core(self, address, port, value_in_environ, value);
    Py_DECREF(port);
    if (result == NULL || result == Py_None)
        goto done;
    orig = PyDict_New();
    if (orig == NULL || PyDict_SetItem(orig, k_remote_addr, address) < 0 ||
        PyDict_SetItem(orig, k_remote_port, port_text != NULL ? port_text : Py_None) < 0 ||
        PyDict_SetItem(orig, k_url_scheme, scheme != NULL ? scheme : Py_None) < 0)
        goto fail;
    /* The client's port replaces the proxy's (or goes) unless the client is the peer. */
    replace_port = PyTuple_GET_ITEM(result, 2) != self->peer_word;
    if (replace_port && PyTuple_GET_ITEM(result, 1) != Py_None) {
        port_out = PyObject_Str(PyTuple_GET_ITEM(result, 1));
        if (port_out == NULL)
            goto fail;
    }
    if (PyDict_SetItem(environ, k_orig, orig) < 0 || PyDict_SetItem(environ, k_result, result) < 0 ||
        PyDict_SetItem(environ, k_remote_addr, PyTuple_GET_ITEM(result, 0)) < 0)
        goto fail;
    if (port_out != NULL) {
        if (PyDict_SetItem(environ, k_remote_port, port_out) < 0)
            goto fail;
    } else if (replace_port) {          /* environ.pop("REMOTE_PORT", None) */
        PyObject *present = item(environ, k_remote_port, &failed);
        if (failed || (present != NULL && PyDict_DelItem(environ, k_remote_port) < 0))
            goto fail;
    }
    goto done;
fail:
    Py_CLEAR(result);
done:     /* result is the answer, None (Python decides), or NULL with an exception set */
    Py_XDECREF(orig);
    Py_XDECREF(port_out);
    Py_DECREF(address);
    Py_XDECREF(port_text);
    Py_XDECREF(scheme);
    return result;
}

/* A plain address text (no brackets, no port) as a str: 1 parsed into *a, 0 not (Python decides). */
static int plain_address(PyObject *host, address *a)
{
    const char *data;
    Py_ssize_t size;
    return PyUnicode_CheckExact(host) && ascii_view(host, &data, &size) == 0 && size > 0 && data[0] != '[' &&
           parse_entry((const unsigned char *)data, size, a) == VALID && a->port < 0;
}

/* The canonical text of a parsed plain address: `host` itself when it is already canonical. */
static PyObject *canonical(PyObject *host, const address *a)
{
    if (a->text_len == PyUnicode_GET_LENGTH(host) &&
        memcmp(a->text, PyUnicode_1BYTE_DATA(host), (size_t)a->text_len) == 0) {
        Py_INCREF(host);
        return host;
    }
    return ascii_str(a->text, a->text_len);
}

PyDoc_STRVAR(fast_resolve_toa_doc,
"resolve_toa(peer, toa, /)\n--\n\n"
"The Result when a trusted (host, port) peer carried an untrusted (host, port) TOA address: that address is the\n"
"client. None for anything else (an untrusted peer, a trusted TOA address that starts a header walk, other forms):\n"
"Resolver.resolve decides.");

static PyObject *fast_resolve_toa(Fast *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *peer, *toa, *port, *toa_port, *peer_ip = NULL, *toa_ip = NULL, *proxies = NULL, *result = NULL;
    address peer_address, toa_address;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "resolve_toa() takes exactly 2 arguments");
        return NULL;
    }
    peer = args[0];
    toa = args[1];
    if (!PyTuple_CheckExact(peer) || PyTuple_GET_SIZE(peer) != 2 || !PyTuple_CheckExact(toa) ||
        PyTuple_GET_SIZE(toa) != 2 || !plain_address(PyTuple_GET_ITEM(peer, 0), &peer_address) ||
        !plain_address(PyTuple_GET_ITEM(toa, 0), &toa_address) || !trusted(self, &peer_address) ||
        trusted(self, &toa_address))
        Py_RETURN_NONE;
    /* (The tuples are arguments, so everything read from them stays alive for the call.) */
    port = PyLong_CheckExact(PyTuple_GET_ITEM(peer, 1)) ? PyTuple_GET_ITEM(peer, 1) : Py_None;
    toa_port = PyLong_CheckExact(PyTuple_GET_ITEM(toa, 1)) ? PyTuple_GET_ITEM(toa, 1) : Py_None;
    peer_ip = canonical(PyTuple_GET_ITEM(peer, 0), &peer_address);
    toa_ip = peer_ip == NULL ? NULL : canonical(PyTuple_GET_ITEM(toa, 0), &toa_address);
    proxies = toa_ip == NULL ? NULL : PyTuple_Pack(1, peer_ip);
    if (proxies != NULL) {
        PyObject *items[9] = {toa_ip, toa_port, self->toa_word, peer_ip, proxies, Py_None,
                              PyTuple_GET_ITEM(self->reasons, R_TOA), port, self->zero};
        result = make_result((PyTypeObject *)self->result_type, items);
    }
    Py_XDECREF(peer_ip);
    Py_XDECREF(toa_ip);
    Py_XDECREF(proxies);
    return result;
}

static void fast_dealloc(Fast *self)
{
    Py_ssize_t i;
    for (i = 0; i < self->v4_count; i++)
        PyMem_Free(self->v4[i].keys);
    for (i = 0; i < self->v6_count; i++)
        PyMem_Free(self->v6[i].keys);
    PyMem_Free(self->v4);
    PyMem_Free(self->v6);
    Py_XDECREF(self->name_bytes);
    Py_XDECREF(self->name_str);
    Py_XDECREF(self->octets);
    Py_XDECREF(self->result_type);
    Py_XDECREF(self->reasons);
    Py_XDECREF(self->peer_word);
    Py_XDECREF(self->environ_key);
    Py_XDECREF(self->toa_word);
    Py_XDECREF(self->zero);
    Py_XDECREF(self->empty);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

#define CONFIG_DOC \
    "config: (name bytes, name str, octets, IPv4 table, max_hops, Result type, reasons tuple, \"peer\", IPv6 table,\n" \
    "environ key, \"toa\"), packed by realip.resolver.Resolver from its compiled trust (realip/_trust.py)."

static PyObject *fast_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *config;
    Fast *self;
    if (!PyArg_ParseTuple(args, "O!:Fast", &PyTuple_Type, &config))
        return NULL;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0) {
        PyErr_SetString(PyExc_TypeError, "Fast() takes no keyword arguments");
        return NULL;
    }
    if (PyTuple_GET_SIZE(config) != 11 || !PyBytes_CheckExact(PyTuple_GET_ITEM(config, 0)) ||
        !PyUnicode_CheckExact(PyTuple_GET_ITEM(config, 1)) || !PyBytes_CheckExact(PyTuple_GET_ITEM(config, 2)) ||
        PyBytes_GET_SIZE(PyTuple_GET_ITEM(config, 2)) != 256 || !PyType_Check(PyTuple_GET_ITEM(config, 5)) ||
        !PyType_IsSubtype((PyTypeObject *)PyTuple_GET_ITEM(config, 5), &PyTuple_Type) ||
        !PyTuple_CheckExact(PyTuple_GET_ITEM(config, 6)) || PyTuple_GET_SIZE(PyTuple_GET_ITEM(config, 6)) != R_COUNT ||
        !PyUnicode_CheckExact(PyTuple_GET_ITEM(config, 7)) || !PyUnicode_CheckExact(PyTuple_GET_ITEM(config, 9)) ||
        !PyUnicode_CheckExact(PyTuple_GET_ITEM(config, 10))) {
        PyErr_SetString(PyExc_TypeError, "Fast(): bad config tuple; " CONFIG_DOC);
        return NULL;
    }
    self = (Fast *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->max_hops = PyLong_AsLong(PyTuple_GET_ITEM(config, 4));
    if (self->max_hops < 1) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "Fast(): max_hops must be at least 1");
        goto fail;
    }
#define KEEP(field, index) (self->field = PyTuple_GET_ITEM(config, index), Py_INCREF(self->field))
    KEEP(name_bytes, 0);
    KEEP(name_str, 1);
    KEEP(octets, 2);
    KEEP(result_type, 5);
    KEEP(reasons, 6);
    KEEP(peer_word, 7);
    KEEP(environ_key, 9);
    KEEP(toa_word, 10);
#undef KEEP
    self->name = PyBytes_AS_STRING(self->name_bytes);
    self->name_len = PyBytes_GET_SIZE(self->name_bytes);
    self->octet_table = (const unsigned char *)PyBytes_AS_STRING(self->octets);
    self->zero = PyLong_FromLong(0);
    self->empty = PyTuple_New(0);
    if (self->zero == NULL || self->empty == NULL ||
        load_tables(PyTuple_GET_ITEM(config, 3), 32, (void **)&self->v4, &self->v4_count) < 0 ||
        load_tables(PyTuple_GET_ITEM(config, 8), 128, (void **)&self->v6, &self->v6_count) < 0)
        goto fail;
    return (PyObject *)self;
fail:
    Py_DECREF(self);
    return NULL;
}

static PyMethodDef fast_methods[] = {
    {"resolve", (PyCFunction)(void (*)(void))fast_resolve, METH_FASTCALL, fast_resolve_doc},
    {"resolve_toa", (PyCFunction)(void (*)(void))fast_resolve_toa, METH_FASTCALL, fast_resolve_toa_doc},
    {"rewrite_scope", (PyCFunction)fast_rewrite_scope, METH_O, fast_rewrite_scope_doc},
    {"rewrite_environ", (PyCFunction)fast_rewrite_environ, METH_O, fast_rewrite_environ_doc},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject FastType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "realip._speedups.Fast",
    .tp_basicsize = sizeof(Fast),
    .tp_dealloc = (destructor)fast_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = PyDoc_STR("Fast(config): one Resolver's configuration, compiled for the C twin.\n\n" CONFIG_DOC),
    .tp_methods = fast_methods,
    .tp_new = fast_new,
};

static int speedups_exec(PyObject *module)
{
#define INTERN(var, text) \
    if (var == NULL && (var = PyUnicode_InternFromString(text)) == NULL) \
        return -1;
    INTERN(k_client, "client");
    INTERN(k_headers, "headers");
    INTERN(k_state, "state");
    INTERN(k_realip, "realip");
    INTERN(k_type, "type");
    INTERN(k_http, "http");
    INTERN(k_websocket, "websocket");
    INTERN(k_remote_addr, "REMOTE_ADDR");
    INTERN(k_remote_port, "REMOTE_PORT");
    INTERN(k_url_scheme, "wsgi.url_scheme");
    INTERN(k_orig, "realip.orig");
    INTERN(k_result, "realip.result");
#undef INTERN
    if (PyType_Ready(&FastType) < 0)
        return -1;
    Py_INCREF(&FastType);
    if (PyModule_AddObject(module, "Fast", (PyObject *)&FastType) < 0) {
        Py_DECREF(&FastType);
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot speedups_slots[] = {
    {Py_mod_exec, speedups_exec},
#ifdef Py_mod_multiple_interpreters
    /* The key strings and the Fast type are process-wide statics: one interpreter only. */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "realip._speedups",
    "The resolver's most common request in C; realip/resolver.py (Resolver._resolve_fast) and the adapters' Python\n"
    "paths (realip/asgi.py, realip/wsgi.py) are the reference.",
    0,
    NULL,
    speedups_slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
