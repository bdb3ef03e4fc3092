/* Shared declarations of boomnet.fix's C fast path (_speedups.c + _groups.c). */
#ifndef BOOMNET_FIX_SPEEDUPS_H
#define BOOMNET_FIX_SPEEDUPS_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

int fix_is_data_len_tag(long tag);
extern PyTypeObject FixEntryType;
PyObject *fix_group_rows(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *fix_group_entries(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

#endif
