/* Optional C fast path of boomnet.http.h2's DATA demultiplexer (pure Python is the reference:
 * boomnet/http/h2/demux.py, the run loop in FrameDemux.feed; tests run both).
 * BOOMNET_PURE_PYTHON=1 disables it.
 *
 * data_run(data, pos, end, sid, buf, filled, room, max_frame) -> (new pos, new filled)
 *   From `pos`, copies into the bytearray `buf` at `filled` (a body received in place: its
 *   length is its capacity, see boomnet/http/body.py) the payloads of the run of whole HTTP/2
 *   frames in `data[pos:end]` that are DATA (type 0) of stream `sid` (the raw 31-bit id plus the
 *   R bit: a set R bit leaves the run, as in Python), without END_STREAM or PADDED, each no
 *   larger than what is left of `room` nor of the capacity nor than `max_frame` (our
 *   SETTINGS_MAX_FRAME_SIZE: a larger frame is the general path's, which hands it to h2 and its
 *   FRAME_SIZE_ERROR). It stops at the first frame that is anything else, or is cut by `end`,
 *   and returns its offset; the caller judges that frame on its general path. Nothing is written past `room` (the body limit is checked before a byte
 *   of a frame is kept) nor past the end of `buf` (it is never resized here).
 *
 * Only the public C API is used (the buffer protocol, the bytearray accessors): no CPython layout
 * assumptions, so no version gate (unlike boomnet.ws._speedups).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static PyObject *
data_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "data_run(data, pos, end, sid, buf, filled, room, max_frame)");
        return NULL;
    }
    PyObject *buf = args[4];
    if (!PyByteArray_CheckExact(buf)) {
        PyErr_SetString(PyExc_TypeError, "data_run: buf must be a bytearray");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    Py_ssize_t end = PyLong_AsSsize_t(args[2]);
    unsigned long long sid = PyLong_AsUnsignedLongLong(args[3]);
    Py_ssize_t filled = PyLong_AsSsize_t(args[5]);
    Py_ssize_t room = PyLong_AsSsize_t(args[6]);
    Py_ssize_t max_frame = PyLong_AsSsize_t(args[7]);
    if (PyErr_Occurred())
        return NULL;
    Py_ssize_t cap = PyByteArray_GET_SIZE(buf);
    if (filled < 0 || filled > cap) {
        PyErr_SetString(PyExc_ValueError, "data_run: filled outside the buffer");
        return NULL;
    }
    if (cap - filled < room)
        room = cap - filled; /* never past the capacity: the general path grows the body */
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (pos < 0 || end > view.len || pos > end) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "data_run: pos/end outside the data");
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)view.buf;
    char *out = PyByteArray_AS_STRING(buf) + filled;
    Py_ssize_t q = pos;
    while (end - q >= 9) {
        const unsigned char *h = p + q;
        Py_ssize_t length = ((Py_ssize_t)h[0] << 16) | ((Py_ssize_t)h[1] << 8) | h[2];
        unsigned long long fsid = ((unsigned long long)h[5] << 24) | ((unsigned long long)h[6] << 16)
                                  | ((unsigned long long)h[7] << 8) | h[8];
        if (h[3] != 0 || (h[4] & 0x9) || fsid != sid || q + 9 + length > end || length > room
            || length > max_frame)
            break;
        memcpy(out, h + 9, (size_t)length);
        out += length;
        room -= length;
        filled += length;
        q += 9 + length;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("nn", q, filled);
}

static PyMethodDef methods[] = {
    {"data_run", (PyCFunction)(void (*)(void))data_run, METH_FASTCALL,
     "Copy the payloads of a run of whole DATA frames of one stream into its body; (new offset, new filled)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", NULL, -1, methods};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
