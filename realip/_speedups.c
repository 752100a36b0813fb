/*
 * realip._speedups: the resolver's most common request, in C.
 *
 * Handles exactly what Resolver._resolve_fast handles in Python (realip/resolver.py, the reference): an IPv4
 * "(host, port)" peer, ASGI-style header pairs, one list header, entries that are plain dotted quads with an
 * optional port. For anything else (an IPv6 or quoted entry, junk made of other characters, repeated header lines,
 * unusual types) it returns None before building anything and Python takes over, so the answers are the same by
 * construction; tests/test_speedups.py checks that on generated requests. The trust test is the same lookup the
 * Python code does (first-octet table, then the compiled sets); no policy is decided here.
 *
 * Every read is bounded by the buffer it reads from; nothing is allocated per character.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
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

/* An entry made only of digits, dots and at most one colon: "a.b.c.d" or "a.b.c.d:port". Anything else is not
 * ours. *port is -1 when the entry has no port; *host_len is the length of the address part. */
static int parse_entry(const unsigned char *s, Py_ssize_t n, uint32_t *value, long *port, Py_ssize_t *host_len)
{
    Py_ssize_t i, colon = -1;
    for (i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == ':') {
            if (colon >= 0)
                return NOT_OURS;            /* IPv6 */
            colon = i;
        } else if (c != '.' && (c < '0' || c > '9')) {
            return NOT_OURS;
        }
    }
    *port = -1;
    *host_len = colon < 0 ? n : colon;
    if (colon < 0)
        return parse_dotted_quad(s, n, value);
    {
        Py_ssize_t digits = n - colon - 1;
        long p = 0;
        if (digits < 1 || digits > 5)
            return INVALID;
        for (i = colon + 1; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return INVALID;
            p = p * 10 + (s[i] - '0');
        }
        if (p > 65535)
            return INVALID;
        *port = p;
    }
    return parse_dotted_quad(s, colon, value);
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
"resolve(host, port, headers, config, /)\n--\n\n"
"The Result for an IPv4 peer and ASGI-style headers, or None when Python must decide (see the module comment).\n"
"config: (name bytes, name str, octets, IPv4 table, max_hops, Result type, reasons tuple, \"peer\").");

static PyObject *fast_resolve(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *host, *port, *headers, *config;
    PyObject *name_str, *octets_obj, *table, *result_type, *reasons, *peer_word;
    const char *name, *host_data, *value = NULL;
    Py_ssize_t name_len, host_len, value_len = 0, i, count, stop, examined = 0;
    const unsigned char *octets;
    long max_hops;
    uint32_t peer_value;
    int reason = R_ALL_TRUSTED, from_header = 0, t;
    PyObject *passed = NULL, *client_ip = NULL, *client_port = NULL, *items[9], *result = NULL;
    (void)module;

    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "resolve() takes exactly 4 arguments");
        return NULL;
    }
    host = args[0];
    port = args[1];
    headers = args[2];
    config = args[3];
    if (!PyTuple_CheckExact(config) || PyTuple_GET_SIZE(config) != 8) {
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
    if (max_hops < 1 || !PyBytes_CheckExact(octets_obj) || PyBytes_GET_SIZE(octets_obj) != 256 ||
        !PyTuple_CheckExact(table) || !PyType_Check(result_type) || !PyTuple_CheckExact(reasons) ||
        PyTuple_GET_SIZE(reasons) != R_COUNT) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "resolve(): bad config tuple");
        return NULL;
    }
    octets = (const unsigned char *)PyBytes_AS_STRING(octets_obj);

    /* The peer: an ASCII str holding exactly a dotted quad; anything else is Python's. */
    if (!PyUnicode_CheckExact(host) || ascii_view(host, &host_data, &host_len) != 0 ||
        parse_dotted_quad((const unsigned char *)host_data, host_len, &peer_value) != VALID)
        Py_RETURN_NONE;
    if (!PyLong_CheckExact(port))
        port = Py_None;
    t = trusted_v4(peer_value, octets, table);
    if (t < 0)
        return NULL;
    if (t == 0) {
        PyObject *empty = PyTuple_New(0), *zero = PyLong_FromLong(0);
        if (empty != NULL && zero != NULL) {
            PyObject *untrusted[9] = {host, port, peer_word, host, empty, Py_None,
                                      PyTuple_GET_ITEM(reasons, R_UNTRUSTED_PEER), port, zero};
            result = make_result((PyTypeObject *)result_type, untrusted);
        }
        Py_XDECREF(empty);
        Py_XDECREF(zero);
        return result;
    }

    /* The header: exactly one line of the configured name. */
    if (!PyList_CheckExact(headers))
        Py_RETURN_NONE;
    count = PyList_GET_SIZE(headers);
    for (i = 0; i < count; i++) {
        PyObject *pair = PyList_GET_ITEM(headers, i);
        const char *n;
        Py_ssize_t nlen;
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            ascii_view(PyTuple_GET_ITEM(pair, 0), &n, &nlen) != 0)
            Py_RETURN_NONE;
        if (nlen != name_len || !same_name(n, name, name_len))
            continue;
        if (value != NULL)
            Py_RETURN_NONE;                 /* repeated lines: Python joins them */
        if (ascii_view(PyTuple_GET_ITEM(pair, 1), &value, &value_len) != 0)
            Py_RETURN_NONE;
    }

    passed = PyList_New(0);
    if (passed == NULL)
        return NULL;
    if (value != NULL && PyList_Append(passed, host) < 0)
        goto error;
    client_ip = host;
    Py_INCREF(client_ip);
    client_port = port;
    Py_INCREF(client_port);

    /* The walk, from the right: empty elements skipped, at most max_hops entries examined. */
    stop = value_len;
    while (value != NULL) {
        Py_ssize_t start = stop, a, b, host_part;
        uint32_t entry_value;
        long entry_port;
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
            kind = parse_entry((const unsigned char *)value + a, b - a, &entry_value, &entry_port, &host_part);
            if (kind == NOT_OURS) {
                Py_DECREF(passed);
                Py_DECREF(client_ip);
                Py_DECREF(client_port);
                Py_RETURN_NONE;
            }
            examined++;
            if (kind == INVALID) {
                reason = R_INVALID_ENTRY;
                break;
            }
            Py_SETREF(client_ip, PyUnicode_FromStringAndSize(value + a, host_part));
            if (client_ip == NULL)
                goto error;
            if (entry_port >= 0) {
                Py_SETREF(client_port, PyLong_FromLong(entry_port));
            } else {
                Py_INCREF(Py_None);
                Py_SETREF(client_port, Py_None);
            }
            if (client_port == NULL)
                goto error;
            from_header = 1;
            t = trusted_v4(entry_value, octets, table);
            if (t < 0)
                goto error;
            if (t == 0) {
                reason = R_UNTRUSTED_ENTRY;
                break;
            }
            if (PyList_Append(passed, client_ip) < 0)
                goto error;
        }
        if (start == 0)
            break;
        stop = start - 1;
    }

    if (examined == 0)
        reason = R_NO_HEADER;
    else if (reason != R_UNTRUSTED_ENTRY && PyList_GET_SIZE(passed) > 0 &&
             PyList_SetSlice(passed, PyList_GET_SIZE(passed) - 1, PyList_GET_SIZE(passed), NULL) < 0)
        goto error;         /* the client is the last trusted address reached, not a hop passed through */
    if (reason == R_NO_HEADER && PyList_SetSlice(passed, 0, PyList_GET_SIZE(passed), NULL) < 0)
        goto error;
    items[0] = client_ip;
    items[1] = client_port;
    items[2] = from_header ? name_str : peer_word;
    items[3] = host;
    items[4] = PyList_AsTuple(passed);
    if (items[4] == NULL)
        goto error;
    items[5] = Py_None;
    items[6] = PyTuple_GET_ITEM(reasons, reason);
    items[7] = port;
    items[8] = PyLong_FromSsize_t(examined);
    if (items[8] == NULL) {
        Py_DECREF(items[4]);
        goto error;
    }
    result = make_result((PyTypeObject *)result_type, items);
    Py_DECREF(items[4]);
    Py_DECREF(items[8]);
error:
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
