/* Repeating groups for boomnet.fix's C fast path: the entry walk of _Fields.groups, the
 * columnar group_rows(), and EntryBase (storage + get/[] of GroupEntry). See _speedups.c. */
#include "_speedups.h"
#include <structmember.h>

/* The entries of one group: int64 quadruples (first triple, end triple, lo, hi) into *out. */
static int collect_spans(const int64_t *idx, Py_ssize_t n, long long vstart, long long delimiter, PyObject *members,
                         int64_t **out_p, Py_ssize_t *count_p) {
    Py_ssize_t i = 0, cap = 32, count = 0, first = -1;
    while (i + 2 < n && idx[i + 1] != vstart) i += 3;
    i += 3;
    int64_t *out = PyMem_Malloc(cap * sizeof(int64_t));
    if (out == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (;; i += 3) {
        int at_end = i + 2 >= n, is_delim = 0, member = 0;
        if (!at_end) {
            is_delim = idx[i] == delimiter;
            if (!is_delim && first >= 0) {
                PyObject *tag = PyLong_FromLongLong(idx[i]);
                if (tag == NULL) goto fail;
                member = PySet_Contains(members, tag);
                Py_DECREF(tag);
                if (member < 0) goto fail;
            }
        }
        if ((at_end || is_delim || !member) && first >= 0) { /* close the open entry */
            if (count + 4 > cap) {
                cap *= 2;
                int64_t *grown = PyMem_Realloc(out, cap * sizeof(int64_t));
                if (grown == NULL) {
                    PyErr_NoMemory();
                    goto fail;
                }
                out = grown;
            }
            long long tag = idx[first], digits = 1;
            while (tag >= 10) {
                tag /= 10;
                digits++;
            }
            out[count++] = first;
            out[count++] = i;
            out[count++] = idx[first + 1] - digits - 2;
            out[count++] = idx[i - 1];
            first = -1;
        }
        if (at_end || (!is_delim && !member)) break;
        if (is_delim) first = i;
    }
    *out_p = out;
    *count_p = count;
    return 0;
fail:
    PyMem_Free(out);
    return -1;
}

static int spans_args(PyObject *const *args, Py_buffer *view, long long *vstart, long long *delimiter) {
    if (PyObject_GetBuffer(args[0], view, PyBUF_SIMPLE) < 0) return -1;
    *vstart = PyLong_AsLongLong(args[1]);
    *delimiter = PyLong_AsLongLong(args[2]);
    if (PyErr_Occurred() || !PyAnySet_Check(args[3])) {
        PyBuffer_Release(view);
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "members must be a frozenset");
        return -1;
    }
    return 0;
}

/* group_rows(index, value_start, delimiter, members, data, tags) -> list[tuple[bytes | None, ...]]
 *
 * For each entry of the group (as collect_spans finds them), the values of ``tags`` (first
 * occurrence inside the entry's bytes; None when absent). The caller guarantees no tag asked
 * for belongs to a nested group and the message has no data field (plain finds are exact then).
 */
PyObject *fix_group_rows(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6 || !PyBytes_Check(args[4]) || !PyTuple_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError, "expected (index, value_start, delimiter, members, data: bytes, tags: tuple)");
        return NULL;
    }
    Py_buffer view;
    long long vstart, delimiter;
    if (spans_args(args, &view, &vstart, &delimiter) < 0) return NULL;
    int64_t *spans;
    Py_ssize_t count;
    int rc = collect_spans(view.buf, view.len / (Py_ssize_t)sizeof(int64_t), vstart, delimiter, args[3], &spans, &count);
    PyBuffer_Release(&view);
    if (rc < 0) return NULL;
    const char *p = PyBytes_AS_STRING(args[4]);
    Py_ssize_t len = PyBytes_GET_SIZE(args[4]);
    Py_ssize_t ntags = PyTuple_GET_SIZE(args[5]);
    char needles[32][24];
    int nlens[32];
    PyObject *rows = NULL;
    if (ntags > 32) {
        PyErr_SetString(PyExc_ValueError, "at most 32 tags per row");
        goto done;
    }
    for (Py_ssize_t t = 0; t < ntags; t++) {
        long tag = PyLong_AsLong(PyTuple_GET_ITEM(args[5], t));
        if (PyErr_Occurred()) goto done;
        nlens[t] = snprintf(needles[t], sizeof needles[t], "\x01%ld=", tag);
    }
    rows = PyList_New(count / 4);
    if (rows == NULL) goto done;
    for (Py_ssize_t e = 0; e < count / 4; e++) {
        Py_ssize_t lo = spans[4 * e + 2], hi = spans[4 * e + 3];
        if (lo < 0) lo = 0;
        if (hi > len) hi = len;
        PyObject *row = PyTuple_New(ntags);
        if (row == NULL) {
            Py_CLEAR(rows);
            goto done;
        }
        PyList_SET_ITEM(rows, e, row);
        for (Py_ssize_t t = 0; t < ntags; t++) {
            PyObject *value = NULL;
            const char *r = hi - lo >= nlens[t] ? memmem(p + lo, (size_t)(hi - lo), needles[t], (size_t)nlens[t]) : NULL;
            if (r == NULL) {
                value = Py_None;
                Py_INCREF(value);
            } else {
                const char *v = r + nlens[t], *end = memchr(v, 1, (size_t)(p + len - v));
                value = PyBytes_FromStringAndSize(v, (end ? end : p + len) - v);
                if (value == NULL) {
                    Py_CLEAR(rows);
                    goto done;
                }
            }
            PyTuple_SET_ITEM(row, t, value);
        }
    }
done:
    PyMem_Free(spans);
    return rows;
}

/* EntryBase: the storage and the hot lookups of boomnet.fix.message.GroupEntry (a subclass
 * adds the rest in Python). get(tag, default=None) and entry[tag] do one memmem inside the
 * entry's bytes; a message with a data field, or a tag of a nested group, goes to the Python
 * subclass's _slow_get(tag, default), which walks the field index. Instances are made by
 * group_entries() (no __init__ call). */
typedef struct {
    PyObject_HEAD
    PyObject *data, *idx, *nested, *ntags;
    Py_ssize_t i0, i1, lo, hi;
    char has_data;
} Entry;

static int entry_traverse(Entry *self, visitproc visit, void *arg) {
    Py_VISIT(self->data);
    Py_VISIT(self->idx);
    Py_VISIT(self->nested);
    Py_VISIT(self->ntags);
    return 0;
}

static int entry_clear(Entry *self) {
    Py_CLEAR(self->data);
    Py_CLEAR(self->idx);
    Py_CLEAR(self->nested);
    Py_CLEAR(self->ntags);
    return 0;
}

static void entry_dealloc(Entry *self) {
    /* instances are of a Python subclass: its subtype_dealloc releases the type reference */
    PyObject_GC_UnTrack(self);
    entry_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* 1 = found (*out new ref), 0 = absent, -1 = error, 2 = needs the slow path */
static int entry_lookup(Entry *self, PyObject *tag_obj, PyObject **out) {
    if (self->data == NULL || !PyBytes_Check(self->data)) {
        PyErr_SetString(PyExc_TypeError, "entry not initialised");
        return -1;
    }
    if (self->has_data) return 2;
    if (self->ntags != NULL && PyAnySet_Check(self->ntags) && PySet_GET_SIZE(self->ntags) > 0) {
        int r = PySet_Contains(self->ntags, tag_obj);
        if (r < 0) return -1;
        if (r) return 2;
    }
    long tag = PyLong_AsLong(tag_obj);
    if (tag == -1 && PyErr_Occurred()) return -1;
    const char *p = PyBytes_AS_STRING(self->data);
    Py_ssize_t len = PyBytes_GET_SIZE(self->data), lo = self->lo < 0 ? 0 : self->lo, hi = self->hi > len ? len : self->hi;
    char needle[24];
    int nlen = snprintf(needle, sizeof needle, "\x01%ld=", tag);
    const char *r = hi - lo >= nlen ? memmem(p + lo, (size_t)(hi - lo), needle, (size_t)nlen) : NULL;
    if (r == NULL) return 0;
    const char *v = r + nlen, *e = memchr(v, 1, (size_t)(p + len - v));
    *out = PyBytes_FromStringAndSize(v, (e ? e : p + len) - v);
    return *out == NULL ? -1 : 1;
}

static PyObject *entry_get(Entry *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get(tag, default=None)");
        return NULL;
    }
    PyObject *dflt = nargs == 2 ? args[1] : Py_None, *value = NULL;
    int r = entry_lookup(self, args[0], &value);
    if (r < 0) return NULL;
    if (r == 1) return value;
    if (r == 2) return PyObject_CallMethod((PyObject *)self, "_slow_get", "OO", args[0], dflt);
    Py_INCREF(dflt);
    return dflt;
}

static PyObject *entry_subscript(Entry *self, PyObject *key) {
    PyObject *value = NULL;
    int r = entry_lookup(self, key, &value);
    if (r < 0) return NULL;
    if (r == 1) return value;
    if (r == 2) {
        value = PyObject_CallMethod((PyObject *)self, "_slow_get", "OO", key, Py_None);
        if (value != Py_None) return value;
        Py_XDECREF(value);
        if (PyErr_Occurred()) return NULL;
    }
    PyErr_SetObject(PyExc_KeyError, key);
    return NULL;
}

static PyMemberDef entry_members[] = {
    {"data", T_OBJECT, offsetof(Entry, data), READONLY, NULL},
    {"_idx", T_OBJECT, offsetof(Entry, idx), READONLY, NULL},
    {"_nested", T_OBJECT, offsetof(Entry, nested), READONLY, NULL},
    {"_ntags", T_OBJECT, offsetof(Entry, ntags), READONLY, NULL},
    {"_i0", T_PYSSIZET, offsetof(Entry, i0), READONLY, NULL},
    {"_i1", T_PYSSIZET, offsetof(Entry, i1), READONLY, NULL},
    {"_lo", T_PYSSIZET, offsetof(Entry, lo), READONLY, NULL},
    {"_hi", T_PYSSIZET, offsetof(Entry, hi), READONLY, NULL},
    {"_has_data", T_BOOL, offsetof(Entry, has_data), READONLY, NULL},
    {NULL},
};

static PyMethodDef entry_methods[] = {
    {"get", (PyCFunction)(void (*)(void))entry_get, METH_FASTCALL, "the value of field tag, or default"},
    {NULL, NULL, 0, NULL},
};

static PyMappingMethods entry_mapping = {NULL, (binaryfunc)entry_subscript, NULL};

PyTypeObject FixEntryType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "boomnet.fix._speedups.EntryBase",
    .tp_basicsize = sizeof(Entry),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "storage and hot lookups of a FIX group entry",
    .tp_traverse = (traverseproc)entry_traverse,
    .tp_clear = (inquiry)entry_clear,
    .tp_dealloc = (destructor)entry_dealloc,
    .tp_methods = entry_methods,
    .tp_members = entry_members,
    .tp_as_mapping = &entry_mapping,
};

/* group_entries(cls, index, value_start, delimiter, members, data, nested, ntags, has_data) -> list
 * The entries collect_spans finds, as instances of cls (a subclass of EntryBase). */
PyObject *fix_group_entries(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 9 || !PyType_Check(args[0]) || !PyType_IsSubtype((PyTypeObject *)args[0], &FixEntryType) ||
        !PyBytes_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError, "expected (cls, index, value_start, delimiter, members, data, nested, ntags, has_data)");
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)args[0];
    Py_buffer view;
    long long vstart, delimiter;
    if (spans_args(args + 1, &view, &vstart, &delimiter) < 0) return NULL;
    int64_t *spans;
    Py_ssize_t count;
    int rc = collect_spans(view.buf, view.len / (Py_ssize_t)sizeof(int64_t), vstart, delimiter, args[4], &spans, &count);
    PyBuffer_Release(&view);
    if (rc < 0) return NULL;
    int has_data = PyObject_IsTrue(args[8]);
    PyObject *list = has_data < 0 ? NULL : PyList_New(count / 4);
    if (list == NULL) goto done;
    for (Py_ssize_t e = 0; e < count / 4; e++) {
        Entry *obj = (Entry *)cls->tp_alloc(cls, 0);
        if (obj == NULL) {
            Py_CLEAR(list);
            goto done;
        }
        Py_INCREF(args[5]);
        obj->data = args[5];
        Py_INCREF(args[1]);
        obj->idx = args[1];
        Py_INCREF(args[6]);
        obj->nested = args[6];
        Py_INCREF(args[7]);
        obj->ntags = args[7];
        obj->i0 = spans[4 * e];
        obj->i1 = spans[4 * e + 1];
        obj->lo = spans[4 * e + 2];
        obj->hi = spans[4 * e + 3];
        obj->has_data = (char)has_data;
        PyList_SET_ITEM(list, e, (PyObject *)obj);
    }
done:
    PyMem_Free(spans);
    return list;
}

