/*
 * Optional C fast path for boomnet.ws. Pure-Python equivalents live in decoder.py / encoder.py
 * and are used when this module is not built (or BOOMNET_PURE_PYTHON=1).
 *
 * CPython-version gate: scan() rewrites PyMemoryViewObject fields (view.buf/len/shape) to re-aim
 * a pooled payload view, reads its private flags/exports/mbuf, and writes Frame slots through the
 * member offsets of their descriptors. None of that is stable API, so _native.py loads this module
 * only on the CPython versions it was tested on (TESTED_VERSIONS, today 3.11) and elsewhere falls
 * back to pure Python with a RuntimeWarning. Before adding a version there: run tests/ws (both
 * decoders) and tools/autobahn.py on it, and re-read memoryobject.h for layout changes.
 *
 * scan(buf, mv, pos, end, max_frame, validate, pool, out, frame_type, text, binary) -> pos
 *   Decodes consecutive *fast-path* frames starting at pos: complete, unmasked, FIN, RSV=0,
 *   TEXT or BINARY, not larger than max_frame, and (TEXT with validate) valid UTF-8. For each it
 *   takes (or creates) a Frame from `pool`, sets opcode/fin/payload (payload = mv[start:stop],
 *   a real memoryview slice that keeps the buffer alive) and appends it to `out`. A pooled
 *   frame's previous payload view is re-aimed in place when only that frame holds it, it shares
 *   mv's managed buffer and nothing exported or released it: then a frame costs no allocation. It returns the
 *   position of the first byte it did not consume; the caller's Python loop handles that frame
 *   (control, fragment, violation, partial) and calls scan again. The caller guarantees that no
 *   fragmented message is in progress.
 *
 * mask(payload, key) -> bytes   XOR with the repeated 4-byte key (RFC 6455 section 5.3).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

static PyObject *str_opcode, *str_fin, *str_payload;

/* Direct slot access for the Frame class (a __slots__ class): byte offsets of its three slots,
 * found once from its member descriptors. Any doubt about the layout leaves them at -1 and the
 * generic PyObject_SetAttr path is used instead. */
static PyTypeObject *frame_cls = NULL;
static Py_ssize_t off_opcode = -1, off_fin = -1, off_payload = -1;

static Py_ssize_t
slot_offset(PyObject *cls, PyObject *name)
{
    PyObject *descr = PyObject_GetAttr(cls, name);
    Py_ssize_t offset = -1;
    if (descr == NULL) {
        PyErr_Clear();
        return -1;
    }
    /* 16 is T_OBJECT_EX / Py_T_OBJECT_EX: an object slot that may be unset */
    if (Py_IS_TYPE(descr, &PyMemberDescr_Type) && ((PyMemberDescrObject *)descr)->d_member->type == 16)
        offset = ((PyMemberDescrObject *)descr)->d_member->offset;
    Py_DECREF(descr);
    return offset;
}

static void
learn_frame_class(PyObject *cls)
{
    if ((PyTypeObject *)cls == frame_cls)
        return;
    frame_cls = NULL;
    if (!PyType_Check(cls))
        return;
    off_opcode = slot_offset(cls, str_opcode);
    off_fin = slot_offset(cls, str_fin);
    off_payload = slot_offset(cls, str_payload);
    if (off_opcode > 0 && off_fin > 0 && off_payload > 0)
        frame_cls = (PyTypeObject *)cls;
}

static inline void
set_slot(PyObject *obj, Py_ssize_t offset, PyObject *value)
{
    PyObject **addr = (PyObject **)((char *)obj + offset);
    PyObject *old = *addr;
    if (old == value)
        return;
    Py_INCREF(value);
    *addr = value;
    Py_XDECREF(old);
}

/* Re-aim `view`, a 1-D byte view sharing `base`'s managed buffer that nobody has exported or
 * released, at [start, stop) of that buffer: no allocation. Returns 0 when it may not be reused. */
static inline int
reaim_view(PyObject *view, PyObject *base, char *data, Py_ssize_t start, Py_ssize_t len)
{
    if (view == NULL || !PyMemoryView_Check(view) || !PyMemoryView_Check(base))
        return 0;
    PyMemoryViewObject *v = (PyMemoryViewObject *)view;
    if (v->mbuf != ((PyMemoryViewObject *)base)->mbuf || v->exports != 0 || (v->flags & 0x001) ||
        v->view.ndim != 1 || v->view.itemsize != 1 || v->view.shape == NULL ||
        (v->view.strides != NULL && v->view.strides[0] != 1) || Py_REFCNT(view) != 1)
        return 0; /* 0x001 = released; refcount 1 = only the pooled frame holds it */
    v->view.buf = data + start;
    v->view.len = len;
    v->view.shape[0] = len;
    return 1;
}

/* Strict UTF-8 validation (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF. */
static int
utf8_valid(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n) {
        /* ASCII fast path, 8 bytes at a time */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80)
                return 0;
            i += 2;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            if (i + 2 >= n)
                return 0;
            unsigned char c1 = s[i + 1];
            if ((c1 & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80)
                return 0;
            if (c == 0xE0 && c1 < 0xA0)
                return 0; /* overlong */
            if (c == 0xED && c1 > 0x9F)
                return 0; /* surrogate */
            i += 3;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            if (i + 3 >= n)
                return 0;
            unsigned char c1 = s[i + 1];
            if ((c1 & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80)
                return 0;
            if (c == 0xF0 && c1 < 0x90)
                return 0; /* overlong */
            if (c == 0xF4 && c1 > 0x8F)
                return 0; /* above U+10FFFF */
            i += 4;
        }
        else {
            return 0;
        }
    }
    return 1;
}

static PyObject *
scan(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "scan() takes 11 arguments");
        return NULL;
    }
    PyObject *buf = args[0], *mv = args[1];
    Py_ssize_t pos = PyLong_AsSsize_t(args[2]);
    Py_ssize_t end = PyLong_AsSsize_t(args[3]);
    Py_ssize_t max_frame = PyLong_AsSsize_t(args[4]);
    int validate = PyObject_IsTrue(args[5]);
    PyObject *pool = args[6], *out = args[7], *frame_type = args[8];
    PyObject *text_op = args[9], *binary_op = args[10];
    if (PyErr_Occurred())
        return NULL;
    if (!PyByteArray_Check(buf) || !PyList_Check(pool) || !PyList_Check(out)) {
        PyErr_SetString(PyExc_TypeError, "scan() needs a bytearray and two lists");
        return NULL;
    }
    if (end > PyByteArray_GET_SIZE(buf) || pos < 0 || pos > end) {
        PyErr_SetString(PyExc_ValueError, "scan() positions out of range");
        return NULL;
    }
    const unsigned char *data = (const unsigned char *)PyByteArray_AS_STRING(buf);
    Py_ssize_t count = PyList_GET_SIZE(out);
    learn_frame_class(frame_type);

    while (end - pos >= 2) {
        unsigned char b0 = data[pos], b1 = data[pos + 1];
        if ((b0 != 0x81 && b0 != 0x82) || (b1 & 0x80))
            break;
        Py_ssize_t len = b1, start;
        if (len < 126) {
            start = pos + 2;
        }
        else if (len == 126) {
            if (end - pos < 4)
                break;
            len = ((Py_ssize_t)data[pos + 2] << 8) | data[pos + 3];
            start = pos + 4;
        }
        else {
            if (end - pos < 10)
                break;
            uint64_t l = 0;
            for (int k = 2; k < 10; k++)
                l = (l << 8) | data[pos + k];
            if (l > (uint64_t)max_frame)
                break; /* the Python path reports it */
            len = (Py_ssize_t)l;
            start = pos + 10;
        }
        if (len > max_frame || start + len > end)
            break;
        Py_ssize_t stop = start + len;
        if (b0 == 0x81 && validate && !utf8_valid(data + start, len))
            break; /* the Python path reports it */

        PyObject *frame;
        if (count < PyList_GET_SIZE(pool)) {
            frame = PyList_GET_ITEM(pool, count);
            Py_INCREF(frame);
        }
        else {
            frame = PyObject_CallNoArgs(frame_type);
            if (frame == NULL || PyList_Append(pool, frame) < 0) {
                Py_XDECREF(frame);
                return NULL;
            }
        }
        PyObject *opcode = b0 == 0x81 ? text_op : binary_op;
        int rc = 0;
        if (frame_cls != NULL && Py_IS_TYPE(frame, frame_cls)) {
            /* Fast: slots written directly; the frame's previous payload view re-aimed in place. */
            set_slot(frame, off_opcode, opcode);
            set_slot(frame, off_fin, Py_True);
            PyObject *old = *(PyObject **)((char *)frame + off_payload);
            if (!reaim_view(old, mv, (char *)data, start, len)) {
                PyObject *payload = PySequence_GetSlice(mv, start, stop);
                if (payload == NULL) {
                    Py_DECREF(frame);
                    return NULL;
                }
                set_slot(frame, off_payload, payload);
                Py_DECREF(payload);
            }
        }
        else {
            PyObject *payload = PySequence_GetSlice(mv, start, stop);
            if (payload == NULL) {
                Py_DECREF(frame);
                return NULL;
            }
            rc = PyObject_SetAttr(frame, str_opcode, opcode);
            if (rc == 0)
                rc = PyObject_SetAttr(frame, str_fin, Py_True);
            if (rc == 0)
                rc = PyObject_SetAttr(frame, str_payload, payload);
            Py_DECREF(payload);
        }
        if (rc == 0)
            rc = PyList_Append(out, frame);
        Py_DECREF(frame);
        if (rc < 0)
            return NULL;
        count++;
        pos = stop;
    }
    return PyLong_FromSsize_t(pos);
}

static PyObject *
mask(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "mask() takes 2 arguments");
        return NULL;
    }
    Py_buffer payload, key;
    if (PyObject_GetBuffer(args[0], &payload, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[1], &key, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&payload);
        return NULL;
    }
    if (key.len != 4) {
        PyBuffer_Release(&payload);
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "mask key must be 4 bytes");
        return NULL;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, payload.len);
    if (result != NULL) {
        unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(result);
        const unsigned char *src = payload.buf, *k = key.buf;
        uint32_t k32;
        memcpy(&k32, k, 4);
        uint64_t k64 = ((uint64_t)k32 << 32) | k32;
        Py_ssize_t i = 0, n = payload.len;
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            memcpy(&w, src + i, 8);
            w ^= k64;
            memcpy(dst + i, &w, 8);
        }
        for (; i < n; i++)
            dst[i] = src[i] ^ k[i & 3];
    }
    PyBuffer_Release(&payload);
    PyBuffer_Release(&key);
    return result;
}

static PyObject *
utf8_check(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    int ok = utf8_valid(view.buf, view.len);
    PyBuffer_Release(&view);
    return PyBool_FromLong(ok);
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL, "Decode consecutive fast-path frames."},
    {"mask", (PyCFunction)(void (*)(void))mask, METH_FASTCALL, "XOR a payload with a 4-byte key."},
    {"utf8_valid", utf8_check, METH_O, "Strict UTF-8 validity of a bytes-like object."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", NULL, -1, methods};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    str_opcode = PyUnicode_InternFromString("opcode");
    str_fin = PyUnicode_InternFromString("fin");
    str_payload = PyUnicode_InternFromString("payload");
    if (!str_opcode || !str_fin || !str_payload)
        return NULL;
    return PyModule_Create(&module);
}
