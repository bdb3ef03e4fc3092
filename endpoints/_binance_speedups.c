/* Optional C fast path of endpoints.binance_checks (pure Python is the reference:
 * endpoints/binance_checks.py, first_bad_python; the tests run and fuzz both).
 * BOOMNET_PURE_PYTHON=1 disables it.
 *
 * first_bad(fields, levels, records) -> int
 *   `records` a list (or tuple) of decoded records; `fields` and `levels` dicts {record class:
 *   tuple of attribute names}. Returns the index of the first record, of a class in `fields`,
 *   one of whose named attributes is not a plain decimal string (ASCII digits with at most one
 *   '.', at least one digit: what endpoints.binance_records.is_decimal accepts), or of a class
 *   in `levels`, one of whose named attributes is not a list of (price, qty) tuples of plain
 *   decimal strings; else -1. Records of other classes are skipped. Fields are read from their
 *   slots when the class's descriptor for them is a plain object member (msgspec Struct fields
 *   are), else with getattr; nothing else about the objects' layout is assumed.
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

static int
levels_ok(PyObject *side)
{
    if (!PyList_Check(side))
        return 0;
    Py_ssize_t n = PyList_GET_SIZE(side);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *level = PyList_GET_ITEM(side, i);
        if (!PyTuple_Check(level) || PyTuple_GET_SIZE(level) != 2 || !is_decimal(PyTuple_GET_ITEM(level, 0))
            || !is_decimal(PyTuple_GET_ITEM(level, 1)))
            return 0;
    }
    return 1;
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

/* The names of `type`'s checked fields (from `fields` or `levels`) and their offsets; 0 = none. */
static int
lookup(PyTypeObject *type, PyObject *fields, PyObject *levels, PyObject **names, Py_ssize_t *offsets,
       Py_ssize_t *k, int *is_levels)
{
    *k = 0;
    *names = PyDict_GetItemWithError(fields, (PyObject *)type);
    *is_levels = 0;
    if (*names == NULL) {
        if (PyErr_Occurred())
            return -1;
        *names = PyDict_GetItemWithError(levels, (PyObject *)type);
        if (*names == NULL)
            return PyErr_Occurred() ? -1 : 0;
        *is_levels = 1;
    }
    if (!PyTuple_Check(*names) || PyTuple_GET_SIZE(*names) > MAX_FIELDS) {
        PyErr_SetString(PyExc_TypeError, "first_bad: field names must be tuples of at most 8 names");
        return -1;
    }
    *k = PyTuple_GET_SIZE(*names);
    return field_offsets(type, *names, offsets);
}

static PyObject *
first_bad(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "first_bad(fields, levels, records) takes 3 arguments");
        return NULL;
    }
    PyObject *fields = args[0], *levels = args[1];
    if (!PyDict_Check(fields) || !PyDict_Check(levels)) {
        PyErr_SetString(PyExc_TypeError, "first_bad: fields and levels must be dicts");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(args[2], "first_bad: records must be a list or tuple");
    if (seq == NULL)
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyTypeObject *last_type = NULL;
    PyObject *names = NULL; /* borrowed from `fields` / `levels`, for last_type */
    Py_ssize_t k = 0, offsets[MAX_FIELDS];
    int is_levels = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *record = items[i];
        if (Py_TYPE(record) != last_type) {
            last_type = Py_TYPE(record);
            if (lookup(last_type, fields, levels, &names, offsets, &k, &is_levels) < 0)
                goto done;
        }
        for (Py_ssize_t j = 0; j < k; j++) {
            int ok;
            PyObject *v;
            if (offsets[j] >= 0) {
                v = *(PyObject **)((char *)record + offsets[j]);
                ok = v != NULL && (is_levels ? levels_ok(v) : is_decimal(v));
            } else {
                v = PyObject_GetAttr(record, PyTuple_GET_ITEM(names, j));
                if (v == NULL)
                    goto done;
                ok = is_levels ? levels_ok(v) : is_decimal(v);
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
     "first_bad(fields, levels, records) -> index of the first record with a non-decimal field or level, or -1"},
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
