/* Optional C fast path of boomnet.fix (the profile's two hot loops), same results as Python.
 *
 *   checksum(data, start, end) -> int      byte sum of data[start:end] mod 256 (FIX CheckSum)
 *   index(data, start, end) -> bytes       the field index of data[start:end] (which starts with
 *                                          a tag): native int64 triples (tag, value_start,
 *                                          value_end), read through memoryview.cast("q").
 *                                          Data fields (RawData 96, ...) are taken by their
 *                                          length field. ValueError(reason) on malformed input.
 *
 * boomnet/fix/message.py and parser.py fall back to pure Python when this is not built, or when
 * BOOMNET_PURE_PYTHON=1. The data-field length tags below are boomnet.fix.dictionary.DATA_FIELDS
 * (a test checks they agree).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static const long DATA_LEN_TAGS[] = {90, 93, 95, 212, 348, 350, 352, 354, 356, 358, 360, 362, 364, 445, 618, 621};

static int is_data_len_tag(long tag) {
    for (size_t i = 0; i < sizeof(DATA_LEN_TAGS) / sizeof(DATA_LEN_TAGS[0]); i++)
        if (DATA_LEN_TAGS[i] == tag) return 1;
    return 0;
}

static int get_range(PyObject *const *args, Py_ssize_t nargs, Py_buffer *view, Py_ssize_t *start, Py_ssize_t *end) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "expected (data, start, end)");
        return -1;
    }
    if (PyObject_GetBuffer(args[0], view, PyBUF_SIMPLE) < 0) return -1;
    *start = PyLong_AsSsize_t(args[1]);
    *end = PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred()) goto fail;
    if (*start < 0 || *end > view->len || *start > *end) {
        PyErr_SetString(PyExc_ValueError, "range outside the buffer");
        goto fail;
    }
    return 0;
fail:
    PyBuffer_Release(view);
    return -1;
}

static PyObject *checksum(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer view;
    Py_ssize_t start, end;
    if (get_range(args, nargs, &view, &start, &end) < 0) return NULL;
    const unsigned char *p = (const unsigned char *)view.buf;
    uint64_t sum = 0;
    for (Py_ssize_t i = start; i < end; i++) sum += p[i];
    PyBuffer_Release(&view);
    return PyLong_FromLong((long)(sum & 255));
}

static PyObject *fail_value(Py_buffer *view, int64_t *out, const char *fmt, long a) {
    PyMem_Free(out);
    PyBuffer_Release(view);
    return PyErr_Format(PyExc_ValueError, fmt, a);
}

static PyObject *index_fields(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer view;
    Py_ssize_t start, end;
    if (get_range(args, nargs, &view, &start, &end) < 0) return NULL;
    const unsigned char *p = (const unsigned char *)view.buf;
    Py_ssize_t cap = 48, n = 0;
    int64_t *out = PyMem_Malloc(cap * sizeof(int64_t));
    if (out == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    Py_ssize_t pos = start;
    long data_len = -1;
    while (pos < end) {
        long tag = 0;
        Py_ssize_t q = pos;
        if (p[q] == '0') return fail_value(&view, out, "tag with a leading zero at offset %ld", (long)(pos - start));
        while (q < end && p[q] >= '0' && p[q] <= '9' && q - pos < 9) tag = tag * 10 + (p[q++] - '0');
        if (q == pos || q >= end || p[q] != '=')
            return fail_value(&view, out, "tag is not a number at offset %ld", (long)(pos - start));
        if (tag <= 0) return fail_value(&view, out, "tag %ld out of range", tag);
        Py_ssize_t vstart = q + 1, vend;
        if (data_len >= 0) {
            vend = vstart + data_len;
            if (vend >= end || p[vend] != 1)
                return fail_value(&view, out, "data field %ld does not match its length field", tag);
            data_len = -1;
        } else {
            const unsigned char *soh = memchr(p + vstart, 1, (size_t)(end - vstart));
            if (soh == NULL) return fail_value(&view, out, "field %ld not terminated by SOH", tag);
            vend = soh - p;
        }
        if (is_data_len_tag(tag)) {
            long len = 0;
            Py_ssize_t k = vstart;
            if (k == vend) return fail_value(&view, out, "length field %ld is not a number", tag);
            for (; k < vend; k++) {
                if (p[k] < '0' || p[k] > '9' || len > 100000000)
                    return fail_value(&view, out, "length field %ld is not a number", tag);
                len = len * 10 + (p[k] - '0');
            }
            data_len = len;
        }
        if (n + 3 > cap) {
            cap *= 2;
            int64_t *grown = PyMem_Realloc(out, cap * sizeof(int64_t));
            if (grown == NULL) {
                PyMem_Free(out);
                PyBuffer_Release(&view);
                return PyErr_NoMemory();
            }
            out = grown;
        }
        out[n++] = tag;
        out[n++] = vstart;
        out[n++] = vend;
        pos = vend + 1;
    }
    PyBuffer_Release(&view);
    PyObject *result = PyBytes_FromStringAndSize((const char *)out, n * (Py_ssize_t)sizeof(int64_t));
    PyMem_Free(out);
    return result;
}

static PyMethodDef methods[] = {
    {"checksum", (PyCFunction)(void (*)(void))checksum, METH_FASTCALL, "byte sum of data[start:end] mod 256"},
    {"index", (PyCFunction)(void (*)(void))index_fields, METH_FASTCALL, "field index as int64 triples"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", "boomnet.fix C fast path", -1, methods};

PyMODINIT_FUNC PyInit__speedups(void) {
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddObject(m, "DATA_LEN_TAGS", Py_BuildValue("(llllllllllllllll)", 90L, 93L, 95L, 212L,
                                                                             348L, 350L, 352L, 354L, 356L, 358L, 360L,
                                                                             362L, 364L, 445L, 618L, 621L)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
