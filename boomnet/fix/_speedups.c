/* Optional C fast path of boomnet.fix (the profile's two hot loops), same results as Python.
 *
 *   checksum(data, start, end) -> int      byte sum of data[start:end] mod 256 (FIX CheckSum)
 *   scan(data, pos, prefix, max_size, verify)  frames every complete message (see below)
 *   group_rows(index, value_start, delimiter, members, data, tags)  chosen fields per entry
 *   EntryBase, group_entries(cls, ...)  C storage + get/[] of group entries (see below)
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
        if (k < hi && p[k] == '=' && k > i + 1 && p[i + 1] != '0' && is_data_len_tag(tag)) return 1;
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
static PyObject *group_rows(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
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

#include <structmember.h>
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

static PyTypeObject EntryType = {
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
static PyObject *group_entries(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 9 || !PyType_Check(args[0]) || !PyType_IsSubtype((PyTypeObject *)args[0], &EntryType) ||
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

static PyMethodDef methods[] = {
    {"checksum", (PyCFunction)(void (*)(void))checksum, METH_FASTCALL, "byte sum of data[start:end] mod 256"},
    {"index", (PyCFunction)(void (*)(void))index_fields, METH_FASTCALL, "field index as int64 triples"},
    {"group_entries", (PyCFunction)(void (*)(void))group_entries, METH_FASTCALL, "a group's entries as objects"},
    {"group_rows", (PyCFunction)(void (*)(void))group_rows, METH_FASTCALL, "chosen fields of every entry"},
    {"get", (PyCFunction)(void (*)(void))get_value, METH_FASTCALL, "value of the first SOH tag= in a range"},
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL, "frame every complete message"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", "boomnet.fix C fast path", -1, methods};

PyMODINIT_FUNC PyInit__speedups(void) {
    if (PyType_Ready(&EntryType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m != NULL) {
        Py_INCREF(&EntryType);
        if (PyModule_AddObject(m, "EntryBase", (PyObject *)&EntryType) < 0) {
            Py_DECREF(&EntryType);
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
