/* Optional C fast path of boomnet.msg's length-prefixed codec (pure Python is the reference:
 * boomnet/msg/codec.py; tests run both). BOOMNET_PURE_PYTHON=1 disables it.
 *
 * split_lp(view, width, big, adj, limit, out) -> (consumed, status, value)
 *   appends a memoryview per whole frame of `view` to `out`; status 0 = ok, 1 = a frame larger
 *   than `limit` (value = its size), 2 = a length smaller than the header (value = the length).
 *   The views share `view`'s managed buffer (the exporter stays alive while any view does), as
 *   `view[a:b]` would; they are made by copying the view and narrowing it, which is what
 *   memoryview slicing does inside CPython, without the slice objects.
 *
 * pack_lp(msgs, start, out, width, big, adj, limit, vmin) -> index
 *   appends [length][payload] to the bytearray `out` for msgs[start:], stopping (and returning
 *   the index) at the first message that is not bytes/bytearray, is over `limit`, or is at least
 *   `vmin` bytes: Python handles that one (errors, vectored parts) and calls again.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static PyObject *
narrowed(PyObject *view, Py_ssize_t start, Py_ssize_t len)
{
    PyObject *m = PyMemoryView_FromObject(view);
    if (m == NULL)
        return NULL;
    Py_buffer *b = PyMemoryView_GET_BUFFER(m);
    b->buf = (char *)b->buf + start;
    b->len = len;
    b->shape[0] = len;
    return m;
}

static unsigned long long
read_len(const unsigned char *p, int width, int big)
{
    unsigned long long v = 0;
    int i;
    if (big) {
        for (i = 0; i < width; i++)
            v = (v << 8) | p[i];
    } else {
        for (i = width - 1; i >= 0; i--)
            v = (v << 8) | p[i];
    }
    return v;
}

static void
write_len(unsigned char *p, unsigned long long v, int width, int big)
{
    int i;
    if (big) {
        for (i = width - 1; i >= 0; i--) {
            p[i] = (unsigned char)(v & 0xff);
            v >>= 8;
        }
    } else {
        for (i = 0; i < width; i++) {
            p[i] = (unsigned char)(v & 0xff);
            v >>= 8;
        }
    }
}

static PyObject *
split_lp(PyObject *self, PyObject *args)
{
    PyObject *view, *out;
    int width, big;
    Py_ssize_t adj;
    unsigned long long limit; /* up to 2**64 - 1 (an 8-byte length's maximum): not an ssize_t */
    if (!PyArg_ParseTuple(args, "O!iinKO!", &PyMemoryView_Type, &view, &width, &big, &adj, &limit,
                          &PyList_Type, &out))
        return NULL;
    Py_buffer *vb = PyMemoryView_GET_BUFFER(view);
    if (vb->ndim != 1 || vb->itemsize != 1 || (vb->strides != NULL && vb->strides[0] != 1)) {
        PyErr_SetString(PyExc_TypeError, "split_lp needs a contiguous byte view");
        return NULL;
    }
    if (width < 1 || width > 8) {
        PyErr_SetString(PyExc_ValueError, "width must be 1..8");
        return NULL;
    }
    const unsigned char *base = (const unsigned char *)vb->buf;
    Py_ssize_t n = vb->len, pos = 0;
    while (n - pos >= width) {
        unsigned long long raw = read_len(base + pos, width, big);
        if (raw < (unsigned long long)adj)
            return Py_BuildValue("niK", pos, 2, raw);
        unsigned long long size = raw - (unsigned long long)adj;
        if (size > limit)
            return Py_BuildValue("niK", pos, 1, size);
        Py_ssize_t start = pos + width;
        if (size > (unsigned long long)(n - start)) /* unsigned: a size >= 2**63 must not wrap */
            break;
        PyObject *m = narrowed(view, start, (Py_ssize_t)size);
        if (m == NULL)
            return NULL;
        int rc = PyList_Append(out, m);
        Py_DECREF(m);
        if (rc < 0)
            return NULL;
        pos = start + (Py_ssize_t)size;
    }
    return Py_BuildValue("nii", pos, 0, 0);
}

static PyObject *
pack_lp(PyObject *self, PyObject *args)
{
    PyObject *msgs, *out;
    Py_ssize_t start, adj, vmin;
    unsigned long long limit; /* as in split_lp */
    int width, big;
    if (!PyArg_ParseTuple(args, "OnO!iinKn", &msgs, &start, &PyByteArray_Type, &out, &width, &big, &adj,
                          &limit, &vmin))
        return NULL;
    if (!PyList_Check(msgs) && !PyTuple_Check(msgs)) {
        PyErr_SetString(PyExc_TypeError, "pack_lp needs a list or tuple");
        return NULL;
    }
    if (width < 1 || width > 8) {
        PyErr_SetString(PyExc_ValueError, "width must be 1..8");
        return NULL;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(msgs);
    if (start < 0) {
        PyErr_SetString(PyExc_ValueError, "start must not be negative");
        return NULL;
    }
    PyObject **items = PySequence_Fast_ITEMS(msgs);
    /* first pass: how far the fast path goes, and how many bytes it adds */
    Py_ssize_t i, total = 0;
    for (i = start; i < count; i++) {
        PyObject *m = items[i];
        Py_ssize_t len;
        if (PyBytes_CheckExact(m))
            len = PyBytes_GET_SIZE(m);
        else if (PyByteArray_CheckExact(m))
            len = PyByteArray_GET_SIZE(m);
        else
            break;
        if ((unsigned long long)len > limit || len >= vmin)
            break;
        total += width + len;
    }
    Py_ssize_t stop = i;
    if (total == 0)
        return PyLong_FromSsize_t(stop);
    Py_ssize_t old = PyByteArray_GET_SIZE(out);
    if (PyByteArray_Resize(out, old + total) < 0)
        return NULL;
    unsigned char *p = (unsigned char *)PyByteArray_AS_STRING(out) + old;
    for (i = start; i < stop; i++) {
        PyObject *m = items[i];
        const char *src;
        Py_ssize_t len;
        if (PyBytes_CheckExact(m)) {
            src = PyBytes_AS_STRING(m);
            len = PyBytes_GET_SIZE(m);
        } else {
            src = PyByteArray_AS_STRING(m);
            len = PyByteArray_GET_SIZE(m);
        }
        write_len(p, (unsigned long long)(len + adj), width, big);
        memcpy(p + width, src, (size_t)len);
        p += width + len;
    }
    return PyLong_FromSsize_t(stop);
}

/* split_dg(view, max_payload, out, datagram_type) -> (consumed, status, value): connect-rs
 * datagrams [u32 size = 4 + len][u16 version][u16 tag][payload] into datagram_type(tag, view).
 * status 1 = payload over max_payload (value = size - 4), 2 = size < 5 (value = size),
 * 3 = version != 1 (value = version). A lone size field is checked too (before buffering). */
static PyObject *
split_dg(PyObject *self, PyObject *args)
{
    PyObject *view, *out;
    PyTypeObject *dtype;
    Py_ssize_t max_payload;
    if (!PyArg_ParseTuple(args, "O!nO!O!", &PyMemoryView_Type, &view, &max_payload, &PyList_Type, &out,
                          &PyType_Type, &dtype))
        return NULL;
    if (!PyType_IsSubtype(dtype, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "datagram_type must be a tuple subclass");
        return NULL;
    }
    Py_buffer *vb = PyMemoryView_GET_BUFFER(view);
    if (vb->ndim != 1 || vb->itemsize != 1 || (vb->strides != NULL && vb->strides[0] != 1)) {
        PyErr_SetString(PyExc_TypeError, "split_dg needs a contiguous byte view");
        return NULL;
    }
    const unsigned char *base = (const unsigned char *)vb->buf;
    Py_ssize_t n = vb->len, pos = 0;
    unsigned long long top = (unsigned long long)max_payload + 4;
    while (n - pos >= 8) {
        unsigned long long size = read_len(base + pos, 4, 1);
        unsigned long version = (unsigned long)read_len(base + pos + 4, 2, 1);
        unsigned long tag = (unsigned long)read_len(base + pos + 6, 2, 1);
        if (size > top)
            return Py_BuildValue("niK", pos, 1, size - 4);
        if (size < 5)
            return Py_BuildValue("niK", pos, 2, size);
        if (version != 1)
            return Py_BuildValue("nik", pos, 3, version);
        Py_ssize_t end = pos + 4 + (Py_ssize_t)size;
        if (end > n)
            break;
        PyObject *m = narrowed(view, pos + 8, (Py_ssize_t)size - 4);
        if (m == NULL)
            return NULL;
        PyObject *t = PyLong_FromUnsignedLong(tag);
        if (t == NULL) {
            Py_DECREF(m);
            return NULL;
        }
        PyObject *d = dtype->tp_alloc(dtype, 2);
        if (d == NULL) {
            Py_DECREF(m);
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(d, 0, t);
        PyTuple_SET_ITEM(d, 1, m);
        int rc = PyList_Append(out, d);
        Py_DECREF(d);
        if (rc < 0)
            return NULL;
        pos = end;
    }
    if (n - pos >= 4) {
        unsigned long long size = read_len(base + pos, 4, 1);
        if (size > top)
            return Py_BuildValue("niK", pos, 1, size - 4);
        if (size < 5)
            return Py_BuildValue("niK", pos, 2, size);
    }
    return Py_BuildValue("nii", pos, 0, 0);
}

static PyMethodDef methods[] = {
    {"split_dg", split_dg, METH_VARARGS, "Split connect-rs datagrams into (tag, memoryview) tuples."},
    {"split_lp", split_lp, METH_VARARGS, "Split length-prefixed frames into memoryviews."},
    {"pack_lp", pack_lp, METH_VARARGS, "Append length-prefixed frames of small bytes payloads."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
