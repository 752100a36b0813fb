/*
 * realip._speedups: the resolver's most common request, in C.
 *
 * Handles exactly what Resolver._resolve_fast handles in Python (realip/resolver.py, the reference): an IPv4
 * "(host, port)" peer (IPv4 or IPv6), ASGI-style header pairs, one list header, entries that are addresses in the
 * usual forms (a.b.c.d, a.b.c.d:port, IPv6 bare or bracketed, [v6]:port). For anything else (a quoted entry, a zone
 * id, other characters, repeated header lines, unusual types) it returns None before building anything and Python
 * takes over, so the answers are the same by construction; tests/speedups checks that on generated requests. The trust test is the same lookup the
 * Python code does (first-octet table, then the compiled sets); no policy is decided here.
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
enum { R_UNTRUSTED_PEER, R_NO_HEADER, R_UNTRUSTED_ENTRY, R_INVALID_ENTRY, R_HOP_LIMIT, R_ALL_TRUSTED, R_COUNT };

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

static int is_hex(unsigned char c)
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

/* 1 trusted, 0 not, -1 error. octets: 256 bytes (0 none, 1 all, 2 ask the table); table: ((shift, frozenset), ...) */
static int trusted_v4(uint32_t value, const unsigned char *octets, PyObject *table)
{
    Py_ssize_t i, count;
    unsigned char o = octets[value >> 24];
    if (o != 2)
        return o == 1;
    count = PyTuple_GET_SIZE(table);
    for (i = 0; i < count; i++) {
        PyObject *pair = PyTuple_GET_ITEM(table, i);
        long shift = PyLong_AsLong(PyTuple_GET_ITEM(pair, 0));
        PyObject *key;
        int found;
        if (shift < 0 || shift > 32) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "bad IPv4 trust table");
            return -1;
        }
        key = PyLong_FromUnsignedLong(shift == 32 ? 0UL : (unsigned long)(value >> shift));
        if (key == NULL)
            return -1;
        found = PySet_Contains(PyTuple_GET_ITEM(pair, 1), key);
        Py_DECREF(key);
        if (found != 0)
            return found;
    }
    return 0;
}

/* 1 trusted, 0 not, -1 error. table: ((shift, frozenset of network numbers), ...) for 128-bit values. */
static int trusted_v6(const unsigned char *bytes, PyObject *table)
{
    Py_ssize_t i, count = PyTuple_GET_SIZE(table);
    PyObject *value;
    int found = 0;
    if (count == 0)
        return 0;
    value = _PyLong_FromByteArray(bytes, 16, 0, 0);
    if (value == NULL)
        return -1;
    for (i = 0; i < count && found == 0; i++) {
        PyObject *pair = PyTuple_GET_ITEM(table, i);
        PyObject *key = PyNumber_Rshift(value, PyTuple_GET_ITEM(pair, 0));
        if (key == NULL) {
            found = -1;
            break;
        }
        found = PySet_Contains(PyTuple_GET_ITEM(pair, 1), key);
        Py_DECREF(key);
    }
    Py_DECREF(value);
    return found;
}

static int trusted(const address *a, const unsigned char *octets, PyObject *v4_table, PyObject *v6_table)
{
    return a->v6 ? trusted_v6(a->bytes, v6_table) : trusted_v4(a->v4, octets, v4_table);
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

PyDoc_STRVAR(resolve_doc,
"resolve(config, peer, headers, /)\n--\n\n"
"The Result for a (host, port) peer and a list of header pairs, or None when Python must decide (see the module\n"
"comment).\n"
"config: (name bytes, name str, octets, IPv4 table, max_hops, Result type, reasons tuple, \"peer\", IPv6 table).");

static PyObject *fast_resolve(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *host, *port, *headers, *config;
    PyObject *name_str, *octets_obj, *table, *table6, *result_type, *reasons, *peer_word;
    const char *name, *host_data, *value = NULL;
    Py_ssize_t name_len, host_len, value_len = 0, i, count, stop, examined = 0;
    const unsigned char *octets;
    long max_hops;
    address peer_address, entry;
    int reason = R_ALL_TRUSTED, from_header = 0, t;
    PyObject *peer_ip = NULL, *passed = NULL, *client_ip = NULL, *client_port = NULL, *items[9], *result = NULL;
    (void)module;

    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "resolve() takes exactly 3 arguments");
        return NULL;
    }
    /* config first, so functools.partial(resolve, config) is the per-Resolver callable (peer, headers). */
    if (!PyTuple_CheckExact(args[1]) || PyTuple_GET_SIZE(args[1]) != 2 || !PyList_CheckExact(args[2]))
        Py_RETURN_NONE;                 /* not an ASGI-style (host, port) peer and header list: Python's */
    config = args[0];
    host = PyTuple_GET_ITEM(args[1], 0);
    port = PyTuple_GET_ITEM(args[1], 1);
    headers = args[2];
    if (!PyTuple_CheckExact(config) || PyTuple_GET_SIZE(config) != 9) {
        PyErr_SetString(PyExc_TypeError, "resolve(): bad config tuple");
        return NULL;
    }
    name = PyBytes_AsString(PyTuple_GET_ITEM(config, 0));
    if (name == NULL)
        return NULL;
    name_len = PyBytes_GET_SIZE(PyTuple_GET_ITEM(config, 0));
    name_str = PyTuple_GET_ITEM(config, 1);
    octets_obj = PyTuple_GET_ITEM(config, 2);
    table = PyTuple_GET_ITEM(config, 3);
    max_hops = PyLong_AsLong(PyTuple_GET_ITEM(config, 4));
    result_type = PyTuple_GET_ITEM(config, 5);
    reasons = PyTuple_GET_ITEM(config, 6);
    peer_word = PyTuple_GET_ITEM(config, 7);
    table6 = PyTuple_GET_ITEM(config, 8);
    if (max_hops < 1 || !PyBytes_CheckExact(octets_obj) || PyBytes_GET_SIZE(octets_obj) != 256 ||
        !PyTuple_CheckExact(table) || !PyTuple_CheckExact(table6) || !PyType_Check(result_type) ||
        !PyTuple_CheckExact(reasons) || PyTuple_GET_SIZE(reasons) != R_COUNT) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "resolve(): bad config tuple");
        return NULL;
    }
    octets = (const unsigned char *)PyBytes_AS_STRING(octets_obj);

    /* The peer: an ASCII str holding an address (no brackets, no port); anything else is Python's. */
    if (!PyUnicode_CheckExact(host) || ascii_view(host, &host_data, &host_len) != 0 || host_len == 0 ||
        host_data[0] == '[' || parse_entry((const unsigned char *)host_data, host_len, &peer_address) != VALID ||
        peer_address.port >= 0)
        Py_RETURN_NONE;
    if (!PyLong_CheckExact(port))
        port = Py_None;
    if (peer_address.text_len == host_len && memcmp(peer_address.text, host_data, (size_t)host_len) == 0) {
        peer_ip = host;                 /* already canonical: no new string */
        Py_INCREF(peer_ip);
    } else {
        peer_ip = PyUnicode_FromStringAndSize(peer_address.text, peer_address.text_len);
        if (peer_ip == NULL)
            return NULL;
    }
    t = trusted(&peer_address, octets, table, table6);
    if (t < 0)
        goto done;
    if (t == 0) {
        PyObject *empty = PyTuple_New(0), *zero = PyLong_FromLong(0);
        if (empty != NULL && zero != NULL) {
            PyObject *untrusted[9] = {peer_ip, port, peer_word, peer_ip, empty, Py_None,
                                      PyTuple_GET_ITEM(reasons, R_UNTRUSTED_PEER), port, zero};
            result = make_result((PyTypeObject *)result_type, untrusted);
        }
        Py_XDECREF(empty);
        Py_XDECREF(zero);
        goto done;
    }

    /* The header: exactly one line of the configured name. */
    if (!PyList_CheckExact(headers))
        goto not_ours;
    count = PyList_GET_SIZE(headers);
    for (i = 0; i < count; i++) {
        PyObject *pair = PyList_GET_ITEM(headers, i);
        const char *n;
        Py_ssize_t nlen;
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            ascii_view(PyTuple_GET_ITEM(pair, 0), &n, &nlen) != 0)
            goto not_ours;
        if (nlen != name_len || !same_name(n, name, name_len))
            continue;
        if (value != NULL)
            goto not_ours;              /* repeated lines: Python joins them */
        if (ascii_view(PyTuple_GET_ITEM(pair, 1), &value, &value_len) != 0)
            goto not_ours;
    }

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
            if (examined == max_hops) {
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
            Py_SETREF(client_ip, PyUnicode_FromStringAndSize(entry.text, entry.text_len));
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
            t = trusted(&entry, octets, table, table6);
            if (t < 0)
                goto done;
            if (t == 0) {
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
    items[2] = from_header ? name_str : peer_word;
    items[3] = peer_ip;
    items[4] = PyList_AsTuple(passed);
    if (items[4] == NULL)
        goto done;
    items[5] = Py_None;
    items[6] = PyTuple_GET_ITEM(reasons, reason);
    items[7] = port;
    items[8] = PyLong_FromSsize_t(examined);
    if (items[8] == NULL) {
        Py_DECREF(items[4]);
        goto done;
    }
    result = make_result((PyTypeObject *)result_type, items);
    Py_DECREF(items[4]);
    Py_DECREF(items[8]);
    goto done;


not_ours:
    result = Py_None;
    Py_INCREF(result);
done:     /* result is the answer, None (Python decides), or NULL with an exception set */
    Py_XDECREF(peer_ip);
    Py_XDECREF(passed);
    Py_XDECREF(client_ip);
    Py_XDECREF(client_port);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"resolve", (PyCFunction)(void (*)(void))fast_resolve, METH_FASTCALL, resolve_doc},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot speedups_slots[] = {
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "realip._speedups",
    "The resolver's most common request in C; realip/resolver.py (Resolver._resolve_fast) is the reference.",
    0,
    speedups_methods,
    speedups_slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
