/* Optional C fast path of boomnet.fix (the profile's two hot loops), same results as Python.
 *
 *   checksum(data, start, end) -> int      byte sum of data[start:end] mod 256 (FIX CheckSum)
 *   scan(data, pos, prefix, max_size, verify)  frames every complete message (see below)
 *   group_rows(index, value_start, delimiter, members, data, tags)  chosen fields per entry (_groups.c)
 *   EntryBase, group_entries(cls, ...)  C storage + get/[] of group entries (_groups.c)
 *   get(data, lo, hi, tag) -> bytes | None   one field lookup (find, find, slice in one call)
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
#include "_speedups.h"

static const long DATA_LEN_TAGS[] = {90, 93, 95, 212, 348, 350, 352, 354, 356, 358, 360, 362, 364, 445, 618, 621};

int fix_is_data_len_tag(long tag) {
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
        if (fix_is_data_len_tag(tag)) {
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


/* scan(data, pos, prefix, max_size, verify) -> (records: bytes, next_pos: int, error: str | None, too_large: bool)
 *
 * Frames every complete message of data[pos:] exactly as FixParser.feed's Python loop does.
 * records: int64 sextuples (start, end, len_end, type_end, seq_num, code) per message, where
 * code bit 0 = a data field is present, code >> 1 = header defect (0 none, 1..4 = field
 * 34/49/56/52 missing, 5 = MsgSeqNum not a number, 6 = MsgType empty). next_pos: where the
 * unconsumed tail starts. error: why framing failed (then next_pos is the bad message).
 */
static const char *FIELD_NEEDLES[4] = {"\x01" "34=", "\x01" "49=", "\x01" "56=", "\x01" "52="};

static Py_ssize_t find_in(const unsigned char *p, Py_ssize_t lo, Py_ssize_t hi, const char *needle, Py_ssize_t nlen) {
    if (hi - lo < nlen) return -1;
    const unsigned char *r = memmem(p + lo, (size_t)(hi - lo), needle, (size_t)nlen);
    return r == NULL ? -1 : (Py_ssize_t)(r - p);
}

static int has_data_field(const unsigned char *p, Py_ssize_t lo, Py_ssize_t hi) {
    for (Py_ssize_t i = lo; i < hi; i++) {
        if (p[i] != 1) continue;
        long tag = 0;
        Py_ssize_t k = i + 1;
        while (k < hi && k - i <= 3 && p[k] >= '0' && p[k] <= '9') tag = tag * 10 + (p[k++] - '0');
        if (k < hi && p[k] == '=' && k > i + 1 && p[i + 1] != '0' && fix_is_data_len_tag(tag)) return 1;
    }
    return 0;
}

static PyObject *scan(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "expected (data, pos, prefix, max_size, verify)");
        return NULL;
    }
    Py_buffer view, pview;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    if (PyObject_GetBuffer(args[2], &pview, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    long long max_size = PyLong_AsLongLong(args[3]);
    int verify = PyObject_IsTrue(args[4]);
    const unsigned char *p = view.buf, *prefix = pview.buf;
    Py_ssize_t n = view.len, plen = pview.len;
    Py_ssize_t cap = 60, count = 0;
    int64_t *out = NULL;
    char err[160];
    err[0] = 0;
    int too_large = 0;
    if (PyErr_Occurred() || pos < 0 || pos > n) goto bad_args;
    out = PyMem_Malloc(cap * sizeof(int64_t));
    if (out == NULL) goto nomem;
    while (pos < n) {
        if (n - pos < plen) {
            if (memcmp(p + pos, prefix, (size_t)(n - pos)) == 0) break;
            snprintf(err, sizeof err, "expected the start of a message (8=...) at a message boundary");
            break;
        }
        if (memcmp(p + pos, prefix, (size_t)plen) != 0) {
            snprintf(err, sizeof err, "expected the start of a message (8=...) at a message boundary");
            break;
        }
        Py_ssize_t ls = pos + plen, lim = ls + 9 < n ? ls + 9 : n;
        const unsigned char *soh = memchr(p + ls, 1, (size_t)(lim - ls));
        if (soh == NULL) {
            if (n - ls >= 9) snprintf(err, sizeof err, "BodyLength is not terminated");
            break;
        }
        Py_ssize_t len_end = soh - p;
        long long length = 0;
        if (len_end == ls || len_end - ls > 8) {
            snprintf(err, sizeof err, "BodyLength is not a number");
            break;
        }
        int ok = 1;
        for (Py_ssize_t k = ls; k < len_end; k++) {
            if (p[k] < '0' || p[k] > '9') ok = 0;
            else length = length * 10 + (p[k] - '0');
        }
        if (!ok) {
            snprintf(err, sizeof err, "BodyLength is not a number");
            break;
        }
        if (length > max_size) {
            snprintf(err, sizeof err, "BodyLength %lld exceeds max_message_size %lld", length, max_size);
            too_large = 1;
            break;
        }
        Py_ssize_t cs = len_end + 1 + (Py_ssize_t)length, end = cs + 6;
        if (end >= n) {
            if (length == 0) snprintf(err, sizeof err, "BodyLength 0");
            break;
        }
        if (p[cs - 1] != 1 || p[end] != 1 || memcmp(p + cs, "10=", 3) != 0) {
            snprintf(err, sizeof err, "BodyLength %lld does not end at a CheckSum field", length);
            break;
        }
        if (p[cs + 3] < '0' || p[cs + 3] > '9' || p[cs + 4] < '0' || p[cs + 4] > '9' || p[cs + 5] < '0' || p[cs + 5] > '9') {
            snprintf(err, sizeof err, "CheckSum is not three digits");
            break;
        }
        if (verify) {
            uint64_t sum = 0;
            for (Py_ssize_t k = pos; k < cs; k++) sum += p[k];
            int sent = (p[cs + 3] - '0') * 100 + (p[cs + 4] - '0') * 10 + (p[cs + 5] - '0');
            if ((int)(sum & 255) != sent) {
                snprintf(err, sizeof err, "CheckSum %03d does not match %03d", sent, (int)(sum & 255));
                break;
            }
        }
        if (cs - (len_end + 1) < 3 || memcmp(p + len_end + 1, "35=", 3) != 0) {
            snprintf(err, sizeof err, "MsgType(35) is not the third field");
            break;
        }
        const unsigned char *tsoh = memchr(p + len_end + 4, 1, (size_t)(cs - (len_end + 4)));
        Py_ssize_t type_end = tsoh - p;  /* p[cs - 1] is SOH: always found */
        long long seq = 0;
        int code = 0;
        Py_ssize_t i = find_in(p, len_end, cs, FIELD_NEEDLES[0], 4);
        if (i >= 0) {
            Py_ssize_t k = i + 4, digits = 0;
            for (; k < cs && p[k] != 1; k++, digits++) {
                if (p[k] < '0' || p[k] > '9' || digits >= 18) { code = 5; break; }
                seq = seq * 10 + (p[k] - '0');
            }
            if (digits == 0) code = 5;
            if (code) seq = 0;
        }
        if (!code)
            for (int f = 0; f < 4; f++)
                if (find_in(p, len_end, cs, FIELD_NEEDLES[f], 4) < 0) { code = f + 1; break; }
        if (!code && type_end == len_end + 4) code = 6;
        if (count + 6 > cap) {
            cap *= 2;
            int64_t *grown = PyMem_Realloc(out, cap * sizeof(int64_t));
            if (grown == NULL) goto nomem;
            out = grown;
        }
        out[count++] = pos;
        out[count++] = end;
        out[count++] = len_end;
        out[count++] = type_end;
        out[count++] = seq;
        out[count++] = (code << 1) | has_data_field(p, len_end, cs);
        pos = end + 1;
    }
    PyBuffer_Release(&view);
    PyBuffer_Release(&pview);
    PyObject *records = PyBytes_FromStringAndSize((const char *)out, count * (Py_ssize_t)sizeof(int64_t));
    PyMem_Free(out);
    if (records == NULL) return NULL;
    if (err[0]) return Py_BuildValue("(NnsO)", records, pos, err, too_large ? Py_True : Py_False);
    return Py_BuildValue("(NnOO)", records, pos, Py_None, Py_False);
nomem:
    PyMem_Free(out);
    PyBuffer_Release(&view);
    PyBuffer_Release(&pview);
    return PyErr_NoMemory();
bad_args:
    PyBuffer_Release(&view);
    PyBuffer_Release(&pview);
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "pos outside the buffer");
    return NULL;
}


/* get(data, lo, hi, tag) -> bytes | None: the value of the first "SOH tag =" found in
 * data[lo:hi] (up to the next SOH) -- FixMessage.get's find/find/slice in one call. */
static PyObject *get_value(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "expected (data, lo, hi, tag)");
        return NULL;
    }
    if (!PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "data must be bytes");
        return NULL;
    }
    const char *p = PyBytes_AS_STRING(args[0]);
    Py_ssize_t len = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t lo = PyLong_AsSsize_t(args[1]), hi = PyLong_AsSsize_t(args[2]);
    long tag = PyLong_AsLong(args[3]);
    if (PyErr_Occurred()) return NULL;
    if (lo < 0) lo = 0;
    if (hi > len) hi = len;
    char needle[24];
    int nlen = snprintf(needle, sizeof needle, "\x01%ld=", tag);
    if (hi - lo < nlen) Py_RETURN_NONE;
    const char *r = memmem(p + lo, (size_t)(hi - lo), needle, (size_t)nlen);
    if (r == NULL) Py_RETURN_NONE;
    const char *v = r + nlen;
    const char *e = memchr(v, 1, (size_t)(p + len - v));
    if (e == NULL) e = p + len;
    return PyBytes_FromStringAndSize(v, e - v);
}


static PyMethodDef methods[] = {
    {"checksum", (PyCFunction)(void (*)(void))checksum, METH_FASTCALL, "byte sum of data[start:end] mod 256"},
    {"index", (PyCFunction)(void (*)(void))index_fields, METH_FASTCALL, "field index as int64 triples"},
    {"group_entries", (PyCFunction)(void (*)(void))fix_group_entries, METH_FASTCALL, "a group's entries as objects"},
    {"group_rows", (PyCFunction)(void (*)(void))fix_group_rows, METH_FASTCALL, "chosen fields of every entry"},
    {"get", (PyCFunction)(void (*)(void))get_value, METH_FASTCALL, "value of the first SOH tag= in a range"},
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL, "frame every complete message"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", "boomnet.fix C fast path", -1, methods};

PyMODINIT_FUNC PyInit__speedups(void) {
    if (PyType_Ready(&FixEntryType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m != NULL) {
        Py_INCREF(&FixEntryType);
        if (PyModule_AddObject(m, "EntryBase", (PyObject *)&FixEntryType) < 0) {
            Py_DECREF(&FixEntryType);
            Py_DECREF(m);
            return NULL;
        }
    }
    if (m != NULL && PyModule_AddObject(m, "DATA_LEN_TAGS", Py_BuildValue("(llllllllllllllll)", 90L, 93L, 95L, 212L,
                                                                             348L, 350L, 352L, 354L, 356L, 358L, 360L,
                                                                             362L, 364L, 445L, 618L, 621L)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
