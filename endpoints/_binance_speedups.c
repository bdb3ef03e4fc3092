/* Optional C fast path of endpoints.binance_checks (pure Python is the reference:
 * endpoints/binance_checks.py, first_bad_python; the tests run and fuzz both).
 * BOOMNET_PURE_PYTHON=1 disables it.
 *
 * first_bad(records, fields) -> int
 *   `records` a list (or tuple) of decoded records, `fields` a dict {record class: tuple of
 *   attribute names}. Returns the index of the first record, of a class in `fields`, one of
 *   whose named attributes is not a plain decimal string (ASCII digits with at most one '.',
 *   at least one digit: what endpoints.binance_records.is_decimal accepts), or -1. Records of
 *   other classes are skipped. Uses only the public C API (attribute lookup, the str kind).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

static int
is_decimal(PyObject *v)
{
    if (!PyUnicode_Check(v) || !PyUnicode_IS_ASCII(v))
        return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(v);
    const unsigned char *s = PyUnicode_1BYTE_DATA(v);
    int digits = 0, points = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c >= '0' && c <= '9')
            digits = 1;
        else if (c == '.' && !points)
            points = 1;
        else
            return 0;
    }
    return digits;
}

#define MAX_FIELDS 8

/* The slot offsets of `type`'s fields `names` into `offsets` (-1: not a plain slot, use getattr).
 * msgspec Struct fields are member descriptors (T_OBJECT_EX slots); reading the slot directly
 * is what the descriptor's __get__ does, minus the attribute lookup. */
static int
field_offsets(PyTypeObject *type, PyObject *names, Py_ssize_t *offsets)
{
    Py_ssize_t k = PyTuple_GET_SIZE(names);
    for (Py_ssize_t j = 0; j < k; j++) {
        offsets[j] = -1;
        PyObject *descr = PyObject_GetAttr((PyObject *)type, PyTuple_GET_ITEM(names, j));
        if (descr == NULL)
            return -1;
        if (Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
            PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
            if (m->type == T_OBJECT_EX || m->type == T_OBJECT)
                offsets[j] = m->offset;
        }
        Py_DECREF(descr);
    }
    return 0;
}

static PyObject *
first_bad(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "first_bad(records, fields) takes 2 arguments");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(args[0], "first_bad: records must be a list or tuple");
    if (seq == NULL)
        return NULL;
    PyObject *fields = args[1];
    PyObject *result = NULL;
    if (!PyDict_Check(fields)) {
        PyErr_SetString(PyExc_TypeError, "first_bad: fields must be a dict");
        goto done;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyTypeObject *last_type = NULL;
    PyObject *names = NULL; /* borrowed from `fields`, for last_type */
    Py_ssize_t k = 0, offsets[MAX_FIELDS];
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *record = items[i];
        if (Py_TYPE(record) != last_type) {
            last_type = Py_TYPE(record);
            names = PyDict_GetItemWithError(fields, (PyObject *)last_type);
            if (names == NULL) {
                if (PyErr_Occurred())
                    goto done;
                k = 0;
                continue;
            }
            if (!PyTuple_Check(names) || PyTuple_GET_SIZE(names) > MAX_FIELDS) {
                PyErr_SetString(PyExc_TypeError, "first_bad: fields values must be tuples of at most 8 names");
                goto done;
            }
            k = PyTuple_GET_SIZE(names);
            if (field_offsets(last_type, names, offsets) < 0)
                goto done;
        }
        for (Py_ssize_t j = 0; j < k; j++) {
            int ok;
            if (offsets[j] >= 0) {
                PyObject *v = *(PyObject **)((char *)record + offsets[j]);
                ok = v != NULL && is_decimal(v);
            } else {
                PyObject *v = PyObject_GetAttr(record, PyTuple_GET_ITEM(names, j));
                if (v == NULL)
                    goto done;
                ok = is_decimal(v);
                Py_DECREF(v);
            }
            if (!ok) {
                result = PyLong_FromSsize_t(i);
                goto done;
            }
        }
    }
    result = PyLong_FromLong(-1);
done:
    Py_DECREF(seq);
    return result;
}

static PyMethodDef methods[] = {
    {"first_bad", (PyCFunction)(void (*)(void))first_bad, METH_FASTCALL,
     "first_bad(records, fields) -> index of the first record with a non-decimal field, or -1"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_binance_speedups", "C fast path of endpoints.binance_checks", -1, methods,
};

PyMODINIT_FUNC
PyInit__binance_speedups(void)
{
    return PyModule_Create(&module);
}
