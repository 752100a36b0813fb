/*
 * realip._kernel: the inner loop of the walk, in C. Bytes in, tuples out, no request policy. realip/_walk.py is the
 * reference (PureTrust: same methods, same answers), which tests/kernel checks on generated input, under valgrind,
 * ASan and libFuzzer. Trust(v4, v6) holds the trusted networks as sorted ranges, packed once by realip/_trust.py;
 * Trust.entry(text) parses one address entry strictly and tests it; Trust.walk(value, budget, start_ip) scans one
 * header value from the right, on from a trusted start, until an untrusted or invalid entry or the budget.
 * Above "Python glue" is plain C (built alone with -DREALIP_KERNEL_NO_PYTHON for the fuzzer). Every read is bounded
 * by the length of the buffer it reads; nothing is allocated per character.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define RK_TEXT 46                  /* the longest canonical text: 8 groups of 4 hex digits and 7 colons, + NUL */

enum { RK_END, RK_UNTRUSTED, RK_INVALID, RK_LIMIT };

typedef struct {
    int v6;                         /* 0: IPv4 (incl. IPv4-mapped IPv6), bytes[0..4); 1: IPv6, bytes[0..16) */
    unsigned char bytes[16];
    long port;                      /* -1: none */
    char text[RK_TEXT];             /* canonical: dotted quad, or RFC 5952 */
    int text_len;
} rk_address;

typedef struct {
    size_t n4, n6;
    unsigned char *v4;              /* n4 ranges of 8 bytes: first, last (big-endian) */
    unsigned char *v6;              /* n6 ranges of 32 bytes: first, last */
} rk_trust;

static int rk_blank(char c) { return c == ' ' || c == '\t'; }

/* The next non-empty comma-separated element of s[0, *pos), from the right, trimmed: 1 and its bounds, or 0. */
static int rk_next(const char *s, size_t *pos, size_t *start, size_t *stop)
{
    size_t i = *pos;
    while (i > 0) {
        size_t end = i, begin;
        while (i > 0 && s[i - 1] != ',')
            i--;
        for (begin = i; begin < end && rk_blank(s[begin]); begin++)
            ;
        while (end > begin && rk_blank(s[end - 1]))
            end--;
        i = i > 0 ? i - 1 : 0;      /* past the comma */
        if (begin < end) {
            *pos = i;
            *start = begin;
            *stop = end;
            return 1;
        }
    }
    *pos = 0;
    return 0;
}

/* 1 to 5 ASCII digits, at most 65535 (leading zeros and 0 allowed, as realip/_address.py). */
static int rk_port(const char *s, size_t n, long *port)
{
    size_t i;
    if (n < 1 || n > 5)
        return 0;
    for (*port = 0, i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        *port = *port * 10 + (s[i] - '0');
    }
    return *port <= 65535;
}

/* libc's inet_pton on s[0, n): what Python's socket.inet_pton does (embedded NUL refused). */
static int rk_pton(int family, const char *s, size_t n, unsigned char *out)
{
    char buf[64];
    if (n >= sizeof buf || memchr(s, 0, n) != NULL)
        return 0;
    memcpy(buf, s, n);
    buf[n] = 0;
    return inet_pton(family, buf, out) == 1;
}

/* RFC 5952: lowercase hex, no leading zeros, the first longest run (>= 2) of zero groups as "::" (as ipaddress). */
static void rk_format_v6(rk_address *a)
{
    unsigned int g[8];
    int i, best = -1, best_len = 1, run = 0, n = 0;
    for (i = 0; i < 8; i++) {
        g[i] = ((unsigned int)a->bytes[2 * i] << 8) | a->bytes[2 * i + 1];
        run = g[i] == 0 ? run + 1 : 0;
        if (run > best_len) {
            best_len = run;
            best = i - run + 1;
        }
    }
    for (i = 0; i < 8; i++) {
        if (i == best) {
            n += snprintf(a->text + n, (size_t)(RK_TEXT - n), "::");
            i += best_len - 1;
        } else {
            n += snprintf(a->text + n, (size_t)(RK_TEXT - n), (n && a->text[n - 1] != ':') ? ":%x" : "%x", g[i]);
        }
    }
    a->text_len = n;
}

static int rk_ipv4(const char *s, size_t n, long port, rk_address *a)
{
    if (!rk_pton(AF_INET, s, n, a->bytes))
        return 0;
    a->v6 = 0;
    a->port = port;
    memcpy(a->text, s, n);          /* inet_pton takes only the canonical dotted quad: n <= 15 */
    a->text_len = (int)n;
    return 1;
}

static int rk_ipv6(const char *s, size_t n, long port, rk_address *a)
{
    const char *zone = memchr(s, '%', n);
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const char zone_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~";
    if (zone != NULL) {             /* a zone names a local interface: checked, then dropped */
        size_t i, z = n - (size_t)(zone - s) - 1;
        if (z < 1 || z > 64)
            return 0;
        for (i = 1; i <= z; i++) {
            if (zone[i] == 0 || strchr(zone_chars, zone[i]) == NULL)
                return 0;
        }
        n = (size_t)(zone - s);
    }
    if (!rk_pton(AF_INET6, s, n, a->bytes))
        return 0;
    a->port = port;
    a->v6 = memcmp(a->bytes, mapped, 12) != 0;
    if (a->v6)
        rk_format_v6(a);
    else {                          /* the IPv4 client of a dual-stack socket: one client, one identity */
        memmove(a->bytes, a->bytes + 12, 4);
        a->text_len = snprintf(a->text, RK_TEXT, "%u.%u.%u.%u", a->bytes[0], a->bytes[1], a->bytes[2], a->bytes[3]);
    }
    return 1;
}

/* One entry in the forms realip/_address.py accepts (the reference): 1 and *a, or 0 when it is not an address. */
static int rk_parse(const char *s, size_t n, rk_address *a)
{
    const char *colon;
    while (n > 0 && rk_blank(s[0])) {
        s++;
        n--;
    }
    while (n > 0 && rk_blank(s[n - 1]))
        n--;
    colon = memchr(s, ':', n);
    if (colon == NULL && memchr(s, '"', n) == NULL)
        return rk_ipv4(s, n, -1, a);
    if (n > 1 && s[0] == '"' && s[n - 1] == '"') {
        s++;
        n -= 2;
        colon = memchr(s, ':', n);
    }
    if (n == 0)
        return 0;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', n);
        size_t inner, rest;
        long port = -1;
        if (close == NULL)
            return 0;
        inner = (size_t)(close - s) - 1;
        rest = n - inner - 2;
        if (rest > 0 && (close[1] != ':' || !rk_port(close + 2, rest - 1, &port)))
            return 0;
        return rk_ipv6(s + 1, inner, port, a);
    }
    if (colon == NULL)
        return rk_ipv4(s, n, -1, a);
    if (memchr(colon + 1, ':', n - (size_t)(colon - s) - 1) == NULL) {
        long port;
        size_t host = (size_t)(colon - s);
        return rk_port(colon + 1, n - host - 1, &port) && rk_ipv4(s, host, port, a);
    }
    return rk_ipv6(s, n, -1, a);
}

/* Whether a parsed address lies in a trusted range: a binary search for the last range starting at or below it. */
static int rk_trusted(const rk_trust *t, const rk_address *a)
{
    size_t width = a->v6 ? 16 : 4, low = 0, high = a->v6 ? t->n6 : t->n4;
    const unsigned char *ranges = a->v6 ? t->v6 : t->v4;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (memcmp(ranges + mid * 2 * width, a->bytes, width) <= 0)
            low = mid + 1;
        else
            high = mid;
    }
    return low > 0 && memcmp(a->bytes, ranges + (low - 1) * 2 * width + width, width) <= 0;
}

#ifndef REALIP_KERNEL_NO_PYTHON
/* ---- Python glue ------------------------------------------------------------------------------------------ */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define RK_MAX_BUDGET 1000          /* realip's bound on max_hops */

typedef struct {
    PyObject_HEAD
    rk_trust trust;
} TrustObject;

/* The end of a walk, by name (realip/_walk.py maps the same names): never an index shared across languages. */
static PyObject *end_names[4];
static const char *const end_text[4] = {"end", "untrusted", "invalid", "limit"};

/* The bytes of a str (ASCII as is; other text with every non-ASCII character as '?', which no address holds, so the
 * answer is the same) or of any bytes-like object (copied unless bytes). *hold keeps a copy alive; 0 on error. */
static int rk_view(PyObject *obj, const char **s, size_t *n, PyObject **hold)
{
    Py_ssize_t size;
    *hold = NULL;
    if (PyUnicode_Check(obj)) {
        if (!PyUnicode_IS_ASCII(obj))
            obj = *hold = PyUnicode_AsEncodedString(obj, "ascii", "replace");
        else {
            *s = PyUnicode_AsUTF8AndSize(obj, &size);
            *n = (size_t)size;
            return *s != NULL;
        }
    } else if (!PyBytes_Check(obj))
        obj = *hold = PyBytes_FromObject(obj);
    if (obj == NULL)
        return 0;
    *s = PyBytes_AS_STRING(obj);
    *n = (size_t)PyBytes_GET_SIZE(obj);
    return 1;
}

static PyObject *rk_text(const rk_address *a)
{
    PyObject *text = PyUnicode_New(a->text_len, 127);
    if (text != NULL)
        memcpy(PyUnicode_DATA(text), a->text, (size_t)a->text_len);
    return text;
}

static PyObject *rk_port_object(long port)
{
    return port < 0 ? Py_NewRef(Py_None) : PyLong_FromLong(port);
}

static unsigned char *copy_ranges(PyObject *packed, size_t width, size_t *count)
{
    unsigned char *copy;
    size_t size;
    if (!PyBytes_Check(packed) || PyBytes_GET_SIZE(packed) % (Py_ssize_t)(2 * width) != 0) {
        PyErr_Format(PyExc_TypeError, "Trust: ranges must be bytes, %zu per range", 2 * width);
        return NULL;
    }
    size = (size_t)PyBytes_GET_SIZE(packed);
    *count = size / (2 * width);
    copy = PyMem_Malloc(size ? size : 1);
    if (copy == NULL)
        return (unsigned char *)PyErr_NoMemory();
    memcpy(copy, PyBytes_AS_STRING(packed), size);
    return copy;
}

static PyObject *trust_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"v4", "v6", NULL};
    PyObject *v4, *v6;
    TrustObject *self;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO:Trust", names, &v4, &v6))
        return NULL;
    self = (TrustObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    if ((self->trust.v4 = copy_ranges(v4, 4, &self->trust.n4)) == NULL ||
        (self->trust.v6 = copy_ranges(v6, 16, &self->trust.n6)) == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void trust_dealloc(TrustObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyMem_Free(self->trust.v4);
    PyMem_Free(self->trust.v6);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

PyDoc_STRVAR(entry_doc, "entry(text, /)\n--\n\n"
             "Parse one address entry and test it: (ip, port, trusted), or None when it is not an address.");

static PyObject *trust_entry(TrustObject *self, PyObject *text)
{
    const char *s;
    size_t n;
    PyObject *hold, *ip, *port, *out = NULL;
    rk_address a;
    int ok;
    if (!rk_view(text, &s, &n, &hold))
        return NULL;
    ok = rk_parse(s, n, &a);
    Py_XDECREF(hold);               /* a holds its own copy of everything it needs */
    if (!ok)
        Py_RETURN_NONE;
    ip = rk_text(&a);
    port = ip ? rk_port_object(a.port) : NULL;
    if (port != NULL)
        out = PyTuple_Pack(3, ip, port, rk_trusted(&self->trust, &a) ? Py_True : Py_False);
    Py_XDECREF(ip);
    Py_XDECREF(port);
    return out;
}

PyDoc_STRVAR(walk_doc, "walk(value, budget, start_ip, /)\n--\n\n"
             "One header value from the right, on from a trusted start: (examined, end, ip, port, passed).\n"
             "See realip._walk.Step, the reference.");

static PyObject *trust_walk(TrustObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *passed[RK_MAX_BUDGET + 1], *hold, *ip = NULL, *port = NULL, *result = NULL, *tuple, *number;
    Py_ssize_t budget, examined = 0, count = 0, i;
    const char *s;
    size_t n, pos, start, stop;
    int end = RK_END;
    long last_port = -1;
    rk_address a;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "walk() takes a value, a budget and the start address");
        return NULL;
    }
    budget = PyLong_AsSsize_t(args[1]);
    if (budget < 0 || budget > RK_MAX_BUDGET) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "walk(): budget must be 0..1000");
        return NULL;
    }
    if (!rk_view(args[0], &s, &n, &hold))
        return NULL;
    if (args[2] != Py_None)
        passed[count++] = Py_NewRef(args[2]);   /* the start: a hop passed once the walk leaves it */
    pos = n;
    while (rk_next(s, &pos, &start, &stop)) {
        if (examined == budget) {
            end = RK_LIMIT;
            break;
        }
        examined++;
        if (!rk_parse(s + start, stop - start, &a)) {
            end = RK_INVALID;
            break;
        }
        Py_XSETREF(ip, rk_text(&a));
        if (ip == NULL)
            goto done;
        last_port = a.port;
        if (!rk_trusted(&self->trust, &a)) {
            end = RK_UNTRUSTED;
            break;
        }
        passed[count++] = Py_NewRef(ip);
    }
    if (ip == NULL) {               /* nothing reached: the start stays the client, no hop is passed */
        ip = Py_NewRef(Py_None);
        port = Py_NewRef(Py_None);
        for (; count > 0; count--)
            Py_DECREF(passed[count - 1]);
    } else {
        if ((port = rk_port_object(last_port)) == NULL)
            goto done;
        if (end != RK_UNTRUSTED)
            Py_DECREF(passed[--count]); /* the client is the last trusted address reached, not a hop passed */
    }
    if ((tuple = PyTuple_New(count)) == NULL)
        goto done;
    for (i = 0; i < count; i++)
        PyTuple_SET_ITEM(tuple, i, passed[i]);
    count = 0;                      /* the tuple owns them now */
    if ((number = PyLong_FromSsize_t(examined)) != NULL) {
        result = PyTuple_Pack(5, number, end_names[end], ip, port, tuple);
        Py_DECREF(number);
    }
    Py_DECREF(tuple);
done:
    for (i = 0; i < count; i++)
        Py_DECREF(passed[i]);
    Py_XDECREF(ip);
    Py_XDECREF(port);
    Py_XDECREF(hold);
    return result;
}

static PyMethodDef trust_methods[] = {
    {"entry", (PyCFunction)trust_entry, METH_O, entry_doc},
    {"walk", (PyCFunction)(void (*)(void))trust_walk, METH_FASTCALL, walk_doc},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot trust_slots[] = {
    {Py_tp_new, trust_new},
    {Py_tp_dealloc, trust_dealloc},
    {Py_tp_methods, trust_methods},
    {Py_tp_doc, "Trust(v4, v6): trusted networks as sorted ranges of packed big-endian addresses (first, last)."},
    {0, NULL},
};

static PyType_Spec trust_spec = {"realip._kernel.Trust", sizeof(TrustObject), 0,
                                 Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE, trust_slots};

static int kernel_exec(PyObject *module)
{
    int i;
    PyObject *type;
    for (i = 0; i < 4; i++) {
        if (end_names[i] == NULL && (end_names[i] = PyUnicode_InternFromString(end_text[i])) == NULL)
            return -1;
    }
    if ((type = PyType_FromModuleAndSpec(module, &trust_spec, NULL)) == NULL)
        return -1;
    i = PyModule_AddObjectRef(module, "Trust", type);
    Py_DECREF(type);
    return i < 0 ? -1 : PyModule_AddIntConstant(module, "MAX_BUDGET", RK_MAX_BUDGET);
}

static PyModuleDef_Slot kernel_slots[] = {
    {Py_mod_exec, kernel_exec},
#if PY_VERSION_HEX >= 0x030C0000
    /* end_names are process-wide, so one interpreter at a time */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef kernel_module = {PyModuleDef_HEAD_INIT, .m_name = "realip._kernel", .m_slots = kernel_slots,
                                           .m_doc = "The walk's inner loop in C (realip/_walk.py is the reference)."};

PyMODINIT_FUNC PyInit__kernel(void)
{
    return PyModuleDef_Init(&kernel_module);
}
#endif
