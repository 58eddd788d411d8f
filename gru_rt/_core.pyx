# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Thin wrapper over the C core: owns buffers, checks NumPy arguments, releases the GIL around C calls,
turns C status codes into Python exceptions (in one place: _check / _raise_load_error)."""

cimport numpy as cnp
from cpython.buffer cimport PyBUF_WRITE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.memoryview cimport PyMemoryView_FromMemory
from libc.stdint cimport int16_t, uint32_t, uintptr_t
from libc.string cimport memcpy, memset

import numpy as np

from .errors import (ArgumentError, CoreError, GruRtError, InputError, InputTypeError,
                     ModelFormatError)
from .model_info import LayerInfo, format_summary
from .inputs import infos as _input_infos, is_per_input, join_inputs
from .format import (DIRECTIONS, MERGES, DTYPES, KIND_CONV1D, KIND_DENSE, KIND_EMBEDDING, KIND_GRU, KIND_LAYERNORM, KIND_LSTM,
                     LAYER_TENSORS, PANEL_ROWS, PARAM_ACTIVATIONS,
                     PRECISIONS, ROLES, WEIGHT_LAYOUTS)

cnp.import_array()

_BLOB_ALIGN = 64
_KINDS = {KIND_GRU: "gru", KIND_DENSE: "dense", KIND_LSTM: "lstm", KIND_LAYERNORM: "layernorm",
          KIND_CONV1D: "conv1d", KIND_EMBEDDING: "embedding"}
_KIND_CODES = {name: code for code, name in _KINDS.items()}
_DTYPES = {code: dtype for code, dtype in DTYPES.values()}  # grt_dtype -> NumPy dtype
_DTYPE_NAMES = {code: name for name, (code, _) in DTYPES.items()}
_PRECISIONS = {code: name for name, code in PRECISIONS.items()}
_LAYOUTS = {code: name for name, code in WEIGHT_LAYOUTS.items()}
_DIRECTION_NAMES = {code: name for name, code in DIRECTIONS.items()}
_MERGE_NAMES = {code: name for name, code in MERGES.items()}
_BIDIRECTIONAL = DIRECTIONS["bidirectional"]
_RUN_CHUNK_STEPS = 256  # steps per pass of grt_stream_run: bounds the work buffer, keeps it in cache
# Stream.step releases the GIL for models of at least this many multiply-adds per step (about half a
# microsecond of work): below it, releasing and re-taking the GIL (40-60 ns here, measured by
# bench/bench_gil.py) costs more than another thread could gain (docs/BENCHMARKS.md).
_NOGIL_MIN_MACS = 16384
# Sequences Model.run steps in lockstep (a StreamBatch). Groups of 8 to 64 ran at the same speed
# (docs/BENCHMARKS.md, "Many streams"); 32 keeps the work buffer small.
_RUN_GROUP = 32


cdef str _cstr(const char *s):
    return s.decode("utf-8", "replace") if s != NULL else ""


cdef object _act_alpha(const grt_layer *L):
    """A Dense/Conv1D leaky_relu/elu layer's alpha (the float32 bits in act_param); None for the
    others."""
    if L.kind not in (GRT_LAYER_DENSE, KIND_CONV1D) \
            or _cstr(grt_activation_name(L.activation)) not in PARAM_ACTIVATIONS:
        return None
    return float(np.array(L.act_param, np.uint32).view(np.float32))


cdef dict _norm_eps(const grt_layer *L):
    """A LayerNorm's eps (f32/q8: the float32 bits in act_param) or eps_q (q15: the integer)."""
    if L.kind != GRT_LAYER_NORM:
        return {}
    if L.precision == GRT_PREC_Q15:
        return {"eps_q": int(L.act_param)}
    return {"eps": float(np.array(L.act_param, np.uint32).view(np.float32))}


cdef dict _lstm_cell_bits(const grt_layer *L):
    """A q15 LSTM's cell_bits (1.5: the entry's param); nothing for other layers."""
    if L.kind != KIND_LSTM or L.precision != GRT_PREC_Q15:
        return {}
    return {"cell_bits": int(L.act_param)}


def activation_name(unsigned code):
    """The C core's name of an activation code ("?" if unknown): tests check it against spec.py."""
    return _cstr(grt_activation_name(code))


def _isa_names():
    return [_cstr(grt_isa_name(<grt_isa>k)) for k in range(<int>GRT_ISA_COUNT)]


def _isa_available():
    """Names of the kernel levels this build and CPU support (those grt_isa_select accepts), in enum
    order: scalar first, grt_isa_best() last."""
    return [name for k, name in enumerate(_isa_names()) if grt_isa_supported(<grt_isa>k)]


def _isa_built():
    """Names of the kernel levels compiled into this build (the CPU may lack some), in enum order."""
    cdef unsigned f = grt_build_features()
    bits = {"avx2": GRT_FEATURE_AVX2, "neon": GRT_FEATURE_NEON, "neon_dot": GRT_FEATURE_NEON_DOT,
            "avxvnni": GRT_FEATURE_AVXVNNI, "avx512vnni": GRT_FEATURE_AVX512VNNI}
    return [name for name in _isa_names() if name == "scalar" or f & bits.get(name, 0)]


def cpu_info():
    """The f32 kernel levels: {"isa": active, "best": best supported, "available": [names]}."""
    return {"isa": _cstr(grt_isa_name(grt_isa_active())), "best": _cstr(grt_isa_name(grt_isa_best())),
            "available": _isa_available()}


def _select_isa(str name):
    """Make the named level ("scalar", "avx2", "avx512vnni", ...) active for the whole process. Not thread-safe: only
    while no stream is stepping (tests, start-up). ValueError if unknown or unsupported here."""
    names = _isa_names()
    if name not in names:
        raise ArgumentError(f"unknown ISA {name!r}: expected one of {', '.join(names)}")
    cdef int k = names.index(name)
    if grt_isa_select(<grt_isa>k) != GRT_OK:
        raise ArgumentError(f"ISA {name!r} is not supported by this CPU or build "
                            f"(available: {', '.join(_isa_available())})")


cdef _select_isa_from_env():
    import os
    name = os.environ.get("GRU_RT_ISA")
    if name is None or name == "":
        return
    try:
        _select_isa(name.strip().lower())
    except ValueError as e:
        raise ImportError(f"gru_rt: GRU_RT_ISA={name!r}: {e}") from None


_select_isa_from_env()


cdef _check(grt_status status, str what):
    """Raise for a non-OK status of a call that is not a load (argument or buffer problems)."""
    if status != GRT_OK:
        name = _cstr(grt_status_name(status))
        raise CoreError(name, f"{what}: {name}: {_cstr(grt_status_message(status))}")


cdef _raise_load_error(const grt_diag *d, source):
    index = None if d.index < 0 else int(d.index)
    actual = int(d.actual) if d.has_values else None
    expected = int(d.expected) if d.has_values else None
    raise ModelFormatError(_cstr(grt_status_name(d.status)), _cstr(grt_status_message(d.status)),
                           _cstr(d.field), index, actual, expected, source)


cdef cnp.ndarray _aligned_empty(Py_ssize_t nbytes):
    """A writable uint8 array of nbytes whose data starts on a 64-byte boundary."""
    raw = np.empty(nbytes + _BLOB_ALIGN, dtype=np.uint8)
    cdef uintptr_t addr = <uintptr_t>cnp.PyArray_DATA(raw)
    cdef Py_ssize_t shift = (-<Py_ssize_t>(addr % _BLOB_ALIGN)) % _BLOB_ALIGN
    return raw[shift:shift + nbytes]


_LOADING = object()  # the token Model.__cinit__ requires: see there


cdef class _BlobFiller:
    """A model's bytes: an immutable bytes object with room for nbytes from a 64-byte boundary.
    Only this object writes into it, once, before the model exists; the model's arrays are
    views of the bytes object, so no view (nor anything reached through .base) can ever be made
    writable."""
    cdef object raw
    cdef char *data
    cdef Py_ssize_t nbytes, shift

    def __cinit__(self, Py_ssize_t nbytes):
        self.raw = PyBytes_FromStringAndSize(NULL, nbytes + _BLOB_ALIGN)
        cdef char *p = PyBytes_AS_STRING(self.raw)
        self.shift = (-<Py_ssize_t>(<uintptr_t>p % _BLOB_ALIGN)) % _BLOB_ALIGN
        self.data = p + self.shift
        self.nbytes = nbytes

    cdef object writable_view(self):
        """A writable memoryview of the bytes, only for filling them (it must not escape)."""
        return PyMemoryView_FromMemory(self.data, self.nbytes, PyBUF_WRITE)

    cdef cnp.ndarray frozen(self):
        return np.frombuffer(self.raw, dtype=np.uint8, count=self.nbytes, offset=self.shift)


cdef inline bint _is_f32_contiguous(object x):
    return (cnp.PyArray_Check(x) and cnp.PyArray_TYPE(<cnp.ndarray>x) == cnp.NPY_FLOAT32
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>x))


def _from_panels(arr, rows, cols):
    """The row-major (rows, cols) matrix of panel8 data (gru_rt.writer.to_panels), read-only."""
    w = arr.reshape(-1, cols, PANEL_ROWS).transpose(0, 2, 1).reshape(-1, cols)[:rows].copy()
    w.flags.writeable = False
    return w


cdef size_t _step_macs(const grt_model *m):
    """Multiply-adds of one step: the weight elements of every layer (its w_ih and w_hh)."""
    cdef size_t macs = 0
    cdef uint32_t k
    cdef grt_tensor_info t
    for k in range(m.n_layers):
        for role in (GRT_ROLE_W_IH, GRT_ROLE_W_HH):
            if grt_layer_tensor(m, k, role, &t) == GRT_OK:
                macs += <size_t>t.rows * t.cols
    return macs


cdef tuple _numpy_shape(const grt_tensor_info *t):
    """A tensor's NumPy shape: (rows, cols) for a matrix, (rows,) for a vector."""
    return (int(t.rows), int(t.cols)) if t.ndim == 2 else (int(t.rows),)


def _kind_tensor(str kind, str precision, str role, uint32_t input_size, uint32_t output_size,
                 str layout="row-major"):
    """The C table's description (grt_kind_tensor) of tensor `role` of a layer of this kind,
    precision, weight layout and sizes: (dtype name, NumPy shape, stored rows, nbytes), or None
    when such a layer has no such tensor. ValueError for what no layer can be (unknown kind,
    precision or layout; a size out of range; panel8 where the format does not allow it)."""
    if role not in ROLES:
        return None
    cdef grt_tensor_info t
    cdef grt_status status = grt_kind_tensor(
        _KIND_CODES.get(kind, 0), PRECISIONS.get(precision, 255), WEIGHT_LAYOUTS.get(layout, 255),
        input_size, output_size, ROLES[role], &t)
    if status == GRT_E_TENSOR_ROLE:
        return None
    if status != GRT_OK:
        raise CoreError(_cstr(grt_status_name(status)),
                        f"a {kind} layer, {precision}, {layout}, {input_size}→{output_size}: "
                        f"{_cstr(grt_status_name(status))}: {_cstr(grt_status_message(status))}")
    return _DTYPE_NAMES[t.dtype], _numpy_shape(&t), int(t.stored_rows), int(t.nbytes)


cdef inline bint _is_f32_vector(object x, cnp.npy_intp n):
    """x is a C-contiguous float32 array of shape (n,)."""
    return (_is_f32_contiguous(x) and cnp.PyArray_NDIM(<cnp.ndarray>x) == 1
            and cnp.PyArray_DIM(<cnp.ndarray>x, 0) == n)


cdef bint _shape_matches(cnp.ndarray arr, tuple expected):
    """expected holds sizes, or None for 'any'."""
    cdef int k
    if cnp.PyArray_NDIM(arr) != len(expected):
        return False
    for k in range(len(expected)):
        e = expected[k]
        if e is not None and cnp.PyArray_DIM(arr, k) != <cnp.npy_intp>e:
            return False
    return True


cdef _shape_error(str name, cnp.ndarray arr, tuple expected):
    shown = tuple("T" if e is None else e for e in expected)
    return InputError(f"{name} has shape {(<object>arr).shape}, expected {shown}")


cdef cnp.ndarray _as_f32(object x, tuple expected, str name):
    """x as a C-contiguous float32 array of exactly the expected shape, or InputError (InputTypeError
    for a dtype that is not real numbers)."""
    cdef cnp.ndarray arr
    if _is_f32_contiguous(x):
        arr = <cnp.ndarray>x  # fast path: no conversion
    else:
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise InputTypeError(f"{name} has dtype {arr.dtype}, expected real numbers (float32 preferred)")
        # (not ascontiguousarray: it turns a 0-d scalar into shape (1,), hiding the wrong rank)
        arr = np.asarray(arr, dtype=np.float32, order="C")
    if not _shape_matches(arr, expected):
        raise _shape_error(name, arr, expected)
    return arr


cdef cnp.ndarray _as_i16(object x, tuple expected, str name):
    """x as a C-contiguous int16 array of the expected shape. Integer arrays are converted when
    every value fits int16; anything else (floats included: use the float API) is refused."""
    cdef cnp.ndarray arr = np.asarray(x)
    if arr.dtype != np.int16 or not cnp.PyArray_IS_C_CONTIGUOUS(arr):
        if arr.dtype.kind not in "biu":
            raise InputTypeError(f"{name} has dtype {arr.dtype}, expected int16 (raw q15 values)")
        if arr.size and (arr.min() < -32768 or arr.max() > 32767):
            raise InputError(f"{name} has values outside the int16 range")
        arr = np.asarray(arr, dtype=np.int16, order="C")
    if not _shape_matches(arr, expected):
        raise _shape_error(name, arr, expected)
    return arr


cdef str _position(object arr, Py_ssize_t flat):
    """'[i, j]' of element `flat` of arr ('' for a 0-d array)."""
    if not arr.ndim:
        return ""
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat, arr.shape)) + "]"


cdef object _checked_ids(object x, uint32_t vocab, bint rows, str what):
    """Integer token ids checked (0 <= id < vocab), or InputTypeError/InputError naming the first bad
    one; as float32 input rows (shape + (1,)), or as they are with rows (the int16 API's rows)."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise InputTypeError(f"{what} has dtype {arr.dtype}, expected integer token ids")
    bad = np.flatnonzero((arr < 0) | (arr >= vocab))
    if bad.size:
        raise InputError(f"{what}{_position(arr, int(bad[0]))} is {int(arr.flat[bad[0]])}, expected a "
                         f"token id in 0 … {vocab - 1} (the Embedding's vocabulary)")
    return arr if rows else np.ascontiguousarray(arr[..., None], dtype=np.float32)


cdef object _token_rows(object x, uint32_t vocab, bint int16, str what):
    """The inputs of a token model (layer 0 an Embedding, 1.5). Float API: integer ids shaped
    without the feature axis — () a step, (T,) a sequence, (N, T) padded sequences or B streams'
    steps, a list of (T_k,) ragged sequences — become float32 (..., 1) rows; float arrays are rows
    already ((..., 1), the ids as values). int16 API: the int16 rows of any q15 model, (..., 1).
    Every id is checked here (the C core checks again)."""
    if int16:
        if isinstance(x, (list, tuple)) and len(x) and all(np.ndim(e) == 2 for e in x):
            return [_checked_ids(e, vocab, True, f"{what}[{k}]") for k, e in enumerate(x)]
        return _checked_ids(x, vocab, True, what) if np.asarray(x).dtype.kind in "iu" else x
    if isinstance(x, (list, tuple)) and len(x) and all(np.ndim(e) == 1 for e in x):
        return [_checked_ids(e, vocab, False, f"{what}[{k}]") for k, e in enumerate(x)]
    if isinstance(x, (list, tuple)) and len(x) and all(np.ndim(e) == 2 for e in x):
        return [_token_rows(e, vocab, False, f"{what}[{k}]") for k, e in enumerate(x)]
    arr = np.asarray(x)
    if arr.dtype.kind in "iu":
        return _checked_ids(arr, vocab, False, what)
    if arr.dtype.kind == "f":
        bad = np.flatnonzero(~((arr >= 0) & (arr < vocab) & (arr == np.floor(arr))))
        if bad.size:
            raise InputError(f"{what}{_position(arr, int(bad[0]))} is {float(arr.flat[bad[0]])!r}, "
                             f"expected a token id in 0 … {vocab - 1} (the Embedding's vocabulary)")
        return arr
    raise InputTypeError(f"{what} has dtype {arr.dtype}, expected integer token ids")


cdef _refuse_overlap(cnp.ndarray xa, cnp.ndarray ya):
    """The C run functions read inputs while they write outputs (gru_rt.h: no overlap): an out=
    sharing memory with xs would be read after it was overwritten. Both arrays are C-contiguous
    here, so the bounds test is exact."""
    if np.may_share_memory(xa, ya):
        raise InputError("out overlaps xs in memory; the outputs would overwrite inputs not yet "
                         "read: pass a separate out array (or none)")


cdef _state_dtype(const grt_model *m):
    return np.int16 if m.q15 else np.float32


# ---- many sequences: a list of (T_k, I) arrays, or a padded (N, T, I) array with lengths ----------

cdef _check_readout(object readout):
    if readout not in ("all", "last", "first"):
        raise ArgumentError(f"readout={readout!r}: expected 'all' (every step's output), 'last' (each "
                            f"sequence's output at its own last step) or 'first' (at step 0: the "
                            f"readout of a reverse GRU, e.g. Keras GRU(go_backwards=True))")


cdef bint _is_sequence_list(object xs):
    """A list or tuple of 2-D sequences (possibly of different lengths): the ragged form."""
    return isinstance(xs, (list, tuple)) and all(np.ndim(x) == 2 for x in xs)


cdef object _check_lengths(object lengths, Py_ssize_t n, Py_ssize_t T):
    """lengths as an intp array of n values in [0, T], or TypeError/ValueError naming the culprit."""
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise InputTypeError(f"lengths has dtype {arr.dtype}, expected integers")
    if arr.shape != (n,):
        raise InputError(f"lengths has shape {arr.shape}, expected ({n},): one length per sequence")
    bad = np.flatnonzero((arr < 0) | (arr > T))
    if bad.size:
        k = int(bad[0])
        raise InputError(f"lengths[{k}] is {int(arr[k])}, expected 0 to {T} (the padded length T)")
    return arr.astype(np.intp)


cdef tuple _sequences(object xs, object lengths, Py_ssize_t width, bint int16):
    """The sequences of the ragged forms as (seqs, lens, padded): seqs[k] a C-contiguous (rows, width)
    array (float32, or int16 with int16) whose first lens[k] rows are sequence k; padded the
    (N, T, width) array they are the rows of, or None for a list (read in place either way)."""
    if _is_sequence_list(xs):
        if lengths is not None:
            raise InputError("lengths= goes with a padded (N, T, I) array; the sequences of a list "
                             "have their own lengths")
        seqs = [_as_i16(x, (None, width), f"xs[{k}]") if int16
                else _as_f32(x, (None, width), f"xs[{k}]") for k, x in enumerate(xs)]
        return seqs, np.array([x.shape[0] for x in seqs], dtype=np.intp), None
    x3 = (_as_i16(xs, (None, None, width), "xs") if int16
          else _as_f32(xs, (None, None, width), "xs"))
    n, T = x3.shape[0], x3.shape[1]
    lens = np.full(n, T, dtype=np.intp) if lengths is None else _check_lengths(lengths, n, T)
    return [x3[k] for k in range(n)], lens, x3


cdef tuple _sequence_outputs(lens, padded, Py_ssize_t width, dtype):
    """(ys, result): ys[k] receives sequence k's outputs; result is what run() returns for
    readout='all': the list ys, or the padded (N, T, width) array (zero past each length)."""
    if padded is None:
        ys = [np.empty((n, width), dtype=dtype) for n in lens]
        return ys, ys
    full = np.zeros((padded.shape[0], padded.shape[1], width), dtype=dtype)
    return [full[k] for k in range(full.shape[0])], full


cdef object _step_outputs(list ys, lens, Py_ssize_t width, dtype, str readout):
    """readout='last' ('first'): (N, width), row k the output of sequence k's own last step
    (its step 0)."""
    empty = np.flatnonzero(lens == 0)
    if empty.size:
        raise InputError(f"readout={readout!r}: sequence {int(empty[0])} has length 0, so no "
                         f"{readout} step")
    out = np.empty((len(ys), width), dtype=dtype)
    cdef Py_ssize_t k
    for k in range(len(ys)):
        out[k] = ys[k][lens[k] - 1 if readout == "last" else 0]
    return out


cdef cnp.ndarray _check_out(object out, tuple expected, str name, int typenum=cnp.NPY_FLOAT32):
    if not cnp.PyArray_Check(out):
        raise InputTypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>out
    if not (cnp.PyArray_TYPE(arr) == typenum and cnp.PyArray_IS_C_CONTIGUOUS(arr)
            and cnp.PyArray_ISWRITEABLE(arr)):
        want = "float32" if typenum == cnp.NPY_FLOAT32 else "int16"
        raise InputError(f"{name} must be a writable C-contiguous {want} array, got dtype "
                         f"{arr.dtype}, contiguous={bool(arr.flags.c_contiguous)}, "
                         f"writeable={bool(arr.flags.writeable)}")
    if not _shape_matches(arr, expected):
        raise _shape_error(name, arr, expected)
    return arr


cdef cnp.ndarray _as_input(object x, tuple expected, str name, bint int16):
    return _as_i16(x, expected, name) if int16 else _as_f32(x, expected, name)


cdef cnp.ndarray _output(object out, tuple shape, bint int16):
    """out checked as the output of a call (_check_out), or a new array of that shape."""
    cdef int typenum = cnp.NPY_INT16 if int16 else cnp.NPY_FLOAT32
    if out is not None:
        return _check_out(out, shape, "out", typenum)
    cdef cnp.npy_intp dims[3]
    cdef int k
    for k in range(len(shape)):
        dims[k] = <cnp.npy_intp>shape[k]
    return cnp.PyArray_EMPTY(len(shape), dims, typenum, 0)


cdef int _require_q15(Model model, str what) except -1:
    """The int16 API exists for q15 models only: ValueError for the others."""
    if not model.model.q15:
        raise InputError(f"{what} needs a q15 model; this one is {model.precision}")
    return 0


# ---- the call protocol: one C call, described, then made by _Caller._call -------------------------

cdef enum _Op:
    _STEP          # grt_stream_step(_q15)
    _RUN           # grt_stream_run(_q15)
    _BATCH_STEP    # grt_streams_step(_q15)
    _BATCH_RUN     # grt_streams_run(_q15)
    _BATCH_RAGGED  # grt_streams_run_ragged(_q15)


cdef struct _Call:
    _Op op
    bint int16               # the _q15 function, on int16 values
    grt_stream *stream       # _STEP, _RUN
    grt_stream **streams     # the batch ones: n streams
    size_t n
    const void *xs           # inputs; _BATCH_RAGGED: n pointers to each member's rows
    void *ys                 # outputs; _BATCH_RAGGED: n pointers
    size_t T                 # steps of _RUN and _BATCH_RUN
    const size_t *lengths    # _BATCH_RAGGED
    void *work
    size_t work_size


cdef grt_status _c_call(const _Call *c) noexcept nogil:
    """The C function a _Call names, with its arguments (the one place that calls them)."""
    if c.op == _STEP:
        if c.int16:
            return grt_stream_step_q15(c.stream, <const int16_t *>c.xs, <int16_t *>c.ys)
        grt_stream_step(c.stream, <const float *>c.xs, <float *>c.ys)  # cannot fail
        return GRT_OK
    if c.op == _RUN:
        if c.int16:
            return grt_stream_run_q15(c.stream, <const int16_t *>c.xs, c.T, <int16_t *>c.ys, c.work,
                                      c.work_size)
        return grt_stream_run(c.stream, <const float *>c.xs, c.T, <float *>c.ys, c.work, c.work_size)
    if c.op == _BATCH_STEP:
        if c.int16:
            return grt_streams_step_q15(c.streams, c.n, <const int16_t *>c.xs, <int16_t *>c.ys,
                                        c.work, c.work_size)
        return grt_streams_step(c.streams, c.n, <const float *>c.xs, <float *>c.ys, c.work,
                                c.work_size)
    if c.op == _BATCH_RUN:
        if c.int16:
            return grt_streams_run_q15(c.streams, c.n, <const int16_t *>c.xs, c.T, <int16_t *>c.ys,
                                       c.work, c.work_size)
        return grt_streams_run(c.streams, c.n, <const float *>c.xs, c.T, <float *>c.ys, c.work,
                               c.work_size)
    if c.int16:
        return grt_streams_run_ragged_q15(c.streams, c.n, <const int16_t **>c.xs, c.lengths,
                                          <int16_t **>c.ys, c.work, c.work_size)
    return grt_streams_run_ragged(c.streams, c.n, <const float **>c.xs, c.lengths, <float **>c.ys,
                                  c.work, c.work_size)


cdef class _Caller:
    """What Stream and StreamBatch share: the protocol of every call into C, written once. _call
    claims the streams (_claim: RuntimeError if one is in use by another thread; no Python code
    between the check and the claim), makes the call (with the GIL released when asked), releases
    them even if the call fails, then raises for a non-OK status. The busy flags are only read and
    written holding the GIL, so the check itself cannot race."""

    cdef int _claim(self) except -1:
        raise NotImplementedError

    cdef void _release(self) noexcept:
        pass

    cdef int _call(self, const _Call *c, bint release_gil, str what) except -1:
        cdef grt_status status
        self._claim()
        try:
            if release_gil:
                with nogil:
                    status = _c_call(c)
            else:
                status = _c_call(c)
        finally:
            self._release()
        _check(status, what)
        return 0


cdef class Model:
    """A validated model: a read-only view of a .grt blob owned by this object.

    Create with gru_rt.load(). Shared safely by many streams and threads (it is never modified)."""

    cdef grt_model model
    cdef cnp.ndarray _blob
    cdef readonly object source
    cdef tuple _inputs  # InputInfo per named input (format 1.4); () when the file names none
    cdef readonly uint32_t vocab_size  # token models (layer 0 an Embedding, 1.5): ids 0 … vocab_size - 1; else 0

    def __cinit__(self, *args, **kwargs):
        # Only _from_owned makes models (with this private token), so no unloaded Model exists
        # whose methods could fail on missing fields: Model() and Model.__new__(Model) refuse.
        if len(args) != 1 or args[0] is not _LOADING:
            raise TypeError("create a Model with gru_rt.load(path_or_bytes)")
        self.source = None

    def __init__(self, *args, **kwargs):
        raise TypeError("create a Model with gru_rt.load(path_or_bytes)")

    @staticmethod
    def from_buffer(data, *, bint verify_checksum=True, source=None):
        """Load from bytes-like data. The bytes are copied once into an aligned buffer the model owns,
        so later changes to `data` cannot affect it."""
        cdef const unsigned char[::1] view = memoryview(data).cast("B")
        cdef Py_ssize_t n = view.shape[0]
        cdef _BlobFiller blob = _BlobFiller(n)
        if n:
            memcpy(blob.data, &view[0], n)
        return Model._from_owned(blob.frozen(), verify_checksum, source)

    @staticmethod
    def from_file(path, *, bint verify_checksum=True):
        """Load a .grt file: read once into an aligned buffer the model owns. Only a regular file
        (not a FIFO or a device) within the format's size limit is read, and a file whose first
        bytes are not the magic is refused (GRT_E_MAGIC) without reading the rest."""
        import os
        from .fileio import open_regular
        from .format import MAGIC, MAX_FILE_SIZE
        with open_regular(path, MAX_FILE_SIZE, ".grt model file") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(len(MAGIC))
            if head != MAGIC[:len(head)]:  # the C loader names the rule from these bytes alone
                return Model.from_buffer(head, source=str(path))
            blob = _BlobFiller(size)
            with blob.writable_view() as view:
                view[:len(head)] = head
                got = len(head) + f.readinto(view[len(head):])
            if got != size or f.read(1):
                raise GruRtError(f"{path}: the file changed size while it was read")
        return Model._from_owned(blob.frozen(), verify_checksum, str(path))

    @staticmethod
    cdef Model _from_owned(cnp.ndarray blob, bint verify_checksum, source):
        cdef Model self = Model.__new__(Model, _LOADING)
        cdef grt_diag diag
        cdef unsigned flags = 0 if verify_checksum else GRT_LOAD_SKIP_CHECKSUM
        cdef grt_status status
        cdef const void *data = cnp.PyArray_DATA(blob)
        cdef size_t size = <size_t>blob.shape[0]
        with nogil:
            status = grt_model_load(&self.model, data, size, flags, &diag)
        if status != GRT_OK:
            _raise_load_error(&diag, source)
        blob.flags.writeable = False  # the C view points into it; freeze it
        self._blob = blob
        self.source = source
        self._inputs = self._read_inputs()
        self.vocab_size = (self.model.layers[0].vocab_size
                           if self.model.layers[0].kind == GRT_LAYER_EMBEDDING else 0)
        return self

    cdef tuple _read_inputs(self):
        """The named inputs through grt_model_input (the loader checked the record)."""
        cdef grt_input_info info
        cdef uint32_t i
        pairs = []
        for i in range(self.model.n_inputs):
            _check(grt_model_input(&self.model, i, &info), "named input")
            pairs.append((info.name[:info.name_len].decode("utf-8"), int(info.width)))
        return _input_infos(pairs)

    cdef object _joined(self, x, tuple leads, bint int16, str what):
        """x, or the one array its per-input form (a dict, or one array per input) joins into; for a
        token model, its ids as input rows (_token_rows)."""
        if self.vocab_size:
            return _token_rows(x, self.vocab_size, int16, what)
        # Arrays (the common case) go by without a Python call: this is on step()'s path.
        if type(x) is not dict and (len(self._inputs) < 2 or not isinstance(x, (list, tuple))):
            return x
        if is_per_input(self._inputs, self.model.input_size, x):
            return join_inputs(self._inputs, self.model.input_size, x, leads, int16, what)
        return x

    # --- description -------------------------------------------------------------------------
    @property
    def input_size(self):
        return int(self.model.input_size)

    @property
    def inputs(self):
        """The named inputs (format 1.4): one InputInfo(name, width, offset) per input, in the
        order of the input vector (input elements [offset, offset + width)); () when the file
        names none. With named inputs, step/run also take {name: array} or one array per input."""
        return self._inputs

    @property
    def output_size(self):
        return int(self.model.output_size)

    @property
    def state_size(self):
        """Values in a stream's state: the hidden vectors of all GRU layers and the (h, c) pairs of
        all LSTM layers, concatenated."""
        return int(self.model.state_size)

    @property
    def nbytes(self):
        """Size of the model file in bytes."""
        return int(self.model.size)

    def to_bytes(self):
        """The model file's bytes (a copy of the validated blob)."""
        return self._blob.tobytes()

    def __reduce_ex__(self, protocol):
        """Pickles as the file's bytes (with protocol 5 as a PickleBuffer, which a transport such
        as Dask's can send out of band without a copy); unpickling runs them through the C loader
        again, with the checksum check this model was loaded with."""
        import pickle
        data = pickle.PickleBuffer(self._blob) if protocol >= 5 else self._blob.tobytes()
        return (_model_from_pickle, (data, self.source, bool(self.model.checksum_verified)))

    @property
    def stream_nbytes(self):
        """Bytes of memory one stream needs in C (grt_stream_size): its state plus scratch."""
        return int(grt_stream_size(&self.model))

    def run_work_nbytes(self, size_t chunk_steps):
        """Bytes of the work buffer grt_stream_run needs for chunks of chunk_steps steps."""
        return int(grt_run_work_size(&self.model, chunk_steps))

    def batch_work_nbytes(self, size_t n, size_t chunk_steps=1):
        """Bytes of the work buffer the batch functions need for n streams (grt_batch_work_size;
        with chunk_steps: grt_batch_run_work_size, for runs in chunks of that many steps)."""
        return int(grt_batch_run_work_size(&self.model, n, chunk_steps))

    @property
    def version(self):
        return (int(self.model.version_major), int(self.model.version_minor))

    @property
    def checksum(self):
        return int(self.model.checksum)

    @property
    def checksum_verified(self):
        return bool(self.model.checksum_verified)

    @property
    def layers(self):
        """One LayerInfo per layer, in execution order."""
        return tuple(self._layer_info(k) for k in range(self.model.n_layers))

    cdef object _layer_info(self, uint32_t k):
        cdef const grt_layer *L = &self.model.layers[k]
        is_gru = L.kind == GRT_LAYER_GRU
        is_conv = L.kind == KIND_CONV1D
        recurrent = L.kind != GRT_LAYER_DENSE and not is_conv and L.kind != GRT_LAYER_EMBEDDING
        kind, precision = _KINDS[L.kind], _PRECISIONS[L.precision]
        cdef grt_tensor_info t
        cdef size_t weights = 0
        for role in range(1, GRT_ROLE_MAX + 1):
            if grt_layer_tensor(&self.model, k, role, &t) == GRT_OK:
                weights += t.nbytes
        return LayerInfo(
            index=int(k), kind=kind, precision=precision,
            weight_layout=_LAYOUTS[L.weight_layout],
            input_size=int(L.input_size), output_size=int(L.output_size),
            activation=_cstr(grt_activation_name(L.activation)),
            gate_activation=_cstr(grt_activation_name(L.gate_activation)) if recurrent else None,
            reset_after=bool(L.reset_after) if is_gru else None,
            state_offset=int(L.state_offset) if recurrent or is_conv else None,
            weight_bytes=int(weights) * (2 if L.direction == _BIDIRECTIONAL else 1),
            alpha=_act_alpha(L), **_norm_eps(L), **_lstm_cell_bits(L),
            kernel_size=int(L.kernel_size) if is_conv else None,
            dilation=int(L.dilation) if is_conv else None,
            depthwise=bool(L.depthwise) if is_conv else None,
            direction=_DIRECTION_NAMES[L.direction] if is_gru else None,
            merge=_MERGE_NAMES.get(L.merge),
            vocab_size=int(L.vocab_size) if L.kind == GRT_LAYER_EMBEDDING else None)

    @property
    def precision(self):
        """"f32", "q8" or "q15" when every layer has that precision; "f32+q8" for a mix."""
        names = sorted({info.precision for info in self.layers}, key=list(_PRECISIONS.values()).index)
        return "+".join(names)

    @property
    def input_scale(self):
        """q15 models: the real value of one int16 input unit, per feature (float32); else None."""
        return self.tensor(0, "in_scale").copy() if self.model.q15 else None

    @property
    def output_scale(self):
        """q15 models: the real value of one int16 output unit, per output (float32); else None."""
        if not self.model.q15:
            return None
        last = self.model.n_layers - 1
        scale = self.tensor(last, "out_scale")
        if self.model.layers[last].merge == MERGES["concat"]:
            return np.concatenate([scale, self.tensor(last, "out_scale", backward=True)])
        return scale.copy()

    @property
    def input_mask(self):
        """The input mask value (a float; Keras Masking(mask_value=...)), or None: a step whose
        input equals it in every feature keeps every GRU state and outputs it again
        (docs/CONVENTIONS.md, "Masking"; q15: compared after the boundary's quantization)."""
        if not self.model.has_mask:
            return None
        return float(np.array(self.model.mask_bits, np.uint32).view(np.float32))

    @property
    def metadata(self):
        """The file's metadata as a dict of str (read through the C loader)."""
        cdef const char *key
        cdef const char *value
        cdef uint32_t klen, vlen, i
        out = {}
        for i in range(self.model.meta_count):
            _check(grt_model_meta(&self.model, i, &key, &klen, &value, &vlen), "metadata")
            out[key[:klen].decode("utf-8", "replace")] = value[:vlen].decode("utf-8", "replace")
        return out

    @property
    def needs_future(self):
        """True when a layer runs in reverse or both directions: the model then runs whole
        sequences with run() only (no streams)."""
        return bool(self.model.needs_future)

    def tensor(self, int layer, str role, *, bint backward=False):
        """A read-only view of one tensor of a layer (role: w_ih, w_hh, b_ih, b_hh, w_ih_scale,
        w_hh_scale, in_scale, out_scale), in place inside the model's buffer, with the dtype the
        file stores (docs/FORMAT.md: float32, int8, int32, or uint16 for bf16 codes). Vectors come
        back 1-D. Matrices are (rows, cols) in row-major order whatever the layer's weight layout:
        a panel8 matrix comes back as a read-only row-major copy. Shapes, dtypes and stored rows
        are the C loader's (grt_layer_tensor). backward=True: the backward direction's tensor of a
        bidirectional GRU layer (grt_layer_tensor_dir)."""
        if not 0 <= layer < <int>self.model.n_layers:
            raise IndexError(f"layer {layer} out of range (model has {self.model.n_layers})")
        cdef grt_tensor_info t
        cdef const grt_layer *L = &self.model.layers[layer]
        if backward and L.direction != _BIDIRECTIONAL:
            raise KeyError(f"layer {layer} is not bidirectional: it has no backward tensors")
        if role not in ROLES or grt_layer_tensor_dir(&self.model, layer, 1 if backward else 0,
                                                     ROLES[role], &t) != GRT_OK:
            raise KeyError(f"layer {layer} ({_KINDS[L.kind]}, {_PRECISIONS[L.precision]}) has no "
                           f"tensor {role!r}")
        offset = <size_t>(<const char *>t.data - <const char *>self.model.blob)
        arr = np.frombuffer(self._blob, dtype=_DTYPES[t.dtype], count=t.stored_rows * t.cols,
                            offset=offset)
        if t.layout == GRT_LAYOUT_PANEL8:
            return _from_panels(arr, t.rows, t.cols)
        return arr.reshape(_numpy_shape(&t))

    def to_spec(self):
        """The canonical description (gru_rt.spec.ModelSpec) of this model, copied out of the file
        (quantized layers keep their stored integers and scales)."""
        from .spec import (Conv1DLayer, DenseLayer, EmbeddingLayer, GRULayer, LayerNormLayer, LSTMLayer,
                           ModelSpec)
        layers = []
        for info in self.layers:
            k = info.index
            table = LAYER_TENSORS[(info.kind, info.precision)]
            arrays = {attr: self.tensor(k, role).copy() for role, attr, _ in table}
            if info.kind == "layernorm":
                layers.append(LayerNormLayer(
                    eps=1e-5 if info.eps is None else info.eps, eps_q=info.eps_q,
                    precision=info.precision, **arrays))
            elif info.kind == "gru":
                codes = dict(reset_after=info.reset_after, activation=info.activation,
                             gate_activation=info.gate_activation, precision=info.precision)
                backward = None
                if info.direction == "bidirectional":
                    backward = GRULayer(**codes, **{attr: self.tensor(k, role, backward=True).copy()
                                                    for role, attr, _ in table})
                layers.append(GRULayer(**codes, direction=info.direction, merge=info.merge,
                                       backward=backward, **arrays))
            elif info.kind == "lstm":
                layers.append(LSTMLayer(
                    activation=info.activation, gate_activation=info.gate_activation,
                    precision=info.precision, cell_bits=info.cell_bits or 0, **arrays))
            elif info.kind == "embedding":
                layers.append(EmbeddingLayer(precision=info.precision, **arrays))
            elif info.kind == "conv1d":
                layers.append(Conv1DLayer(
                    in_channels=info.input_size, kernel_size=info.kernel_size,
                    dilation=info.dilation, depthwise=info.depthwise, activation=info.activation,
                    precision=info.precision, alpha=info.alpha, **arrays))
            else:
                layers.append(DenseLayer(activation=info.activation, precision=info.precision,
                                         alpha=info.alpha, **arrays))
        return ModelSpec(layers, self.metadata, self.input_mask)

    def summary(self):
        """A multi-line human-readable description (what `gru-rt info` prints)."""
        return format_summary(self)

    def __repr__(self):
        stack = " → ".join(f"{l.kind.upper()}({l.input_size}→{l.output_size}"
                           f"{', ' + l.activation if l.kind == 'dense' else ''})"
                           for l in self.layers)
        return (f"<gru_rt.Model {self.input_size}→{self.output_size}: {stack}; "
                f"{self.nbytes} bytes>")

    # --- running -----------------------------------------------------------------------------
    def stream(self):
        """A new Stream (zero state) over this model."""
        return Stream(self)

    def stream_batch(self, Py_ssize_t n):
        """A StreamBatch of n new streams (zero states) over this model."""
        if n < 1:
            raise ArgumentError(f"a StreamBatch needs at least one stream, got n={n}")
        return StreamBatch([Stream(self) for _ in range(n)])

    def run(self, xs, state=None, *, lengths=None, readout="all", bint return_state=False):
        """Run whole sequences.

        xs (T, I): one sequence from `state` (default zeros) → outputs (T, O).
        xs (N, T, I): N sequences, each from a zero state → (N, T, O) (`state` must be None),
        stepped in lockstep in groups (StreamBatch.run): the same bits as one run() per sequence.
        With lengths= (N integers in [0, T]), sequence k is xs[k, :lengths[k]], zero-padded: its
        outputs past lengths[k] are zero and the padding is never stepped through.
        xs a list (or tuple) of (T_k, I) arrays: sequences of different lengths → a list of
        (T_k, O) arrays, run as the padded form is (sorted by length, the shorter ones leaving
        the lockstep when they end).
        readout='last': instead of every step's output, each sequence's output at its own last
        step: (N, O) for many sequences (the classifier readout), (O,) for one; readout='first'
        the same at step 0 (where a reverse GRU has read the whole sequence: Keras
        GRU(go_backwards=True, return_sequences=False)).
        With return_state=True, returns (outputs, final_state); for many sequences the final
        states are (N, state_size), each taken after the sequence's own last step."""
        return self._run(xs, state, lengths, readout, return_state, False)

    def run_int16(self, xs, state=None, *, lengths=None, readout="all", bint return_state=False):
        """q15 models: like run() with raw int16 inputs (T, I), (N, T, I) (with or without
        lengths=) or a list of (T_k, I), and int16 outputs: the integer pipeline without the float
        boundary (Model.input_scale/output_scale give the units)."""
        _require_q15(self, "run_int16")
        return self._run(xs, state, lengths, readout, return_state, True)

    cdef object _run(self, xs, state, lengths, str readout, bint return_state, bint int16):
        """run() and run_int16()."""
        _check_readout(readout)
        xs = self._joined(xs, (("T",), ("N", "T")), int16, "xs")
        if self.model.needs_future:
            return self._run_whole(xs, state, lengths, readout, return_state, int16)
        ragged = lengths is not None or _is_sequence_list(xs)
        arr = None if ragged else np.asarray(xs)
        if (ragged or arr.ndim == 3) and state is not None:
            raise InputError("state is only accepted with a single (T, I) sequence")
        if ragged or (arr.ndim == 3 and readout != "all"):
            return self._run_sequences(xs if ragged else arr, lengths, readout, return_state, int16)
        if arr.ndim == 3:
            x3 = _as_input(arr, (None, None, self.model.input_size), "xs", int16)
            ys = _output(None, (x3.shape[0], x3.shape[1], self.model.output_size), int16)
            states = self._run_groups(x3, ys, int16)
            return (ys, states) if return_state else ys
        cdef Stream s = Stream(self)
        if state is not None:
            s.state = state
        ys = s._run(xs, None, int16)
        if readout != "all":
            ys = _step_outputs([ys], np.array([ys.shape[0]]), self.model.output_size, ys.dtype,
                               readout)[0]
        return (ys, s.state) if return_state else ys

    cdef object _run_whole(self, xs, state, lengths, str readout, bint return_state, bint int16):
        """run() of a model that needs the future: each sequence by one grt_model_run (from a zero
        state; a reverse direction starts at the sequence's own last step)."""
        if state is not None or return_state:
            raise InputError(f"{self._future_layer()}: state= and return_state= are for models "
                             f"that run forward only (streams); run() takes whole sequences here")
        single = lengths is None and not _is_sequence_list(xs) and np.ndim(xs) == 2
        seqs, lens, padded = _sequences([xs] if single else xs, lengths, self.model.input_size,
                                        int16)
        dtype = np.int16 if int16 else np.float32
        ys, result = _sequence_outputs(lens, padded, self.model.output_size, dtype)
        cdef cnp.ndarray work = None
        cdef cnp.ndarray xa, ya
        cdef Py_ssize_t k
        cdef size_t T, need, wsize = 0
        cdef grt_status status
        for k in range(len(seqs)):
            T = <size_t>lens[k]
            if T == 0:
                continue
            need = grt_model_run_work_size(&self.model, T)
            if work is None or need > wsize:
                work = _aligned_empty(<Py_ssize_t>need)
                wsize = need
            xa, ya = seqs[k], ys[k]
            with nogil:
                if int16:
                    status = grt_model_run_q15(&self.model, <const int16_t *>cnp.PyArray_DATA(xa), T,
                                               <int16_t *>cnp.PyArray_DATA(ya),
                                               cnp.PyArray_DATA(work), wsize)
                else:
                    status = grt_model_run(&self.model, <const float *>cnp.PyArray_DATA(xa), T,
                                           <float *>cnp.PyArray_DATA(ya), cnp.PyArray_DATA(work),
                                           wsize)
            _check(status, "run_int16" if int16 else "run")
        if readout != "all":
            result = _step_outputs(ys, lens, self.model.output_size, dtype, readout)
        return result[0] if single else result

    cdef str _future_layer(self):
        """'layer k (gru, bidirectional) needs the whole sequence' for the first such layer."""
        cdef uint32_t k
        for k in range(self.model.n_layers):
            if self.model.layers[k].direction != 0:
                return (f"layer {k} (gru, {_DIRECTION_NAMES[self.model.layers[k].direction]}) "
                        f"needs the whole sequence")
        return "this model runs forward"

    cdef object _run_sequences(self, xs, lengths, str readout, bint return_state, bint int16):
        """run() of the ragged forms (a list, or padded with lengths)."""
        seqs, lens, padded = _sequences(xs, lengths, self.model.input_size, int16)
        dtype = np.int16 if int16 else np.float32
        ys, result = _sequence_outputs(lens, padded, self.model.output_size, dtype)
        states = self._run_ragged(seqs, lens, ys, int16)
        if readout != "all":
            result = _step_outputs(ys, lens, self.model.output_size, dtype, readout)
        return (result, states) if return_state else result

    cdef object _run_ragged(self, list seqs, lens, list ys, bint int16):
        """Run sequence k (the first lens[k] rows of seqs[k], into ys[k]) from a zero state, for
        every k: sorted by length, _RUN_GROUP at a time in lockstep (StreamBatch), so that each
        group holds sequences of similar lengths. Returns the final states (N, state_size)."""
        cdef Py_ssize_t n = len(seqs), g0, g1, k
        states = np.empty((n, self.model.state_size), dtype=_state_dtype(&self.model))
        order = np.argsort(-lens, kind="stable")
        cdef StreamBatch batch = None
        for g0 in range(0, n, _RUN_GROUP):
            g1 = min(n, g0 + _RUN_GROUP)
            group = order[g0:g1]
            if batch is None or len(batch) != g1 - g0:
                batch = self.stream_batch(g1 - g0)
            else:
                for s in batch.streams:
                    s.reset()
            batch._run_rows([seqs[i] for i in group], lens[group], [ys[i] for i in group], int16)
            for k in range(g1 - g0):
                states[group[k]] = batch.streams[k].state
        return states

    cdef object _run_groups(self, x3, ys, bint int16):
        """Run the sequences x3 (N, T, I) from zero states into ys, _RUN_GROUP at a time in
        lockstep; returns the final states (N, state_size)."""
        cdef Py_ssize_t n = x3.shape[0], g0, g1, k
        states = np.empty((n, self.model.state_size), dtype=_state_dtype(&self.model))
        cdef StreamBatch batch = None
        for g0 in range(0, n, _RUN_GROUP):
            g1 = min(n, g0 + _RUN_GROUP)
            if batch is None or len(batch) != g1 - g0:
                batch = self.stream_batch(g1 - g0)
            else:
                for s in batch.streams:
                    s.reset()
            batch._run(x3[g0:g1], ys[g0:g1], None, "all", int16)
            for k in range(g1 - g0):
                states[g0 + k] = batch.streams[k].state
        return states


def _model_from_pickle(data, source, bint verify_checksum):
    """Model.__reduce_ex__'s loader. Immutable bytes already on a 64-byte boundary are used in place
    (zero-copy); anything else (unaligned, or a buffer its owner could still change) is copied once
    into an aligned buffer, as Model.from_buffer does."""
    view = memoryview(data).cast("B")
    if type(view.obj) is bytes and view.nbytes:
        blob = np.frombuffer(view, dtype=np.uint8)
        if <uintptr_t>cnp.PyArray_DATA(blob) % _BLOB_ALIGN == 0:
            return Model._from_owned(blob, verify_checksum, source)
    return Model.from_buffer(view, verify_checksum=verify_checksum, source=source)


cdef class Stream(_Caller):
    """The state of one live sequence over a Model: step(x) one time step at a time.

    Holds a reference to its model (which stays alive as long as the stream).

    Threads: use one stream per thread (the model is shared read-only by any number of streams).
    A stream used from two threads at once is refused, not raced: while step() or run() is
    computing (with the GIL released), any other call on the same stream (step, run, reset, reading
    or setting state) raises RuntimeError instead of touching the state. The busy flag is only read
    and written while holding the GIL, so the check itself cannot race. step() and step_int16()
    keep the GIL for models under 16,384 multiply-adds per step: such a step is shorter than
    releasing the GIL costs.

    Inputs: any real array-like (float, int, unsigned or bool; bool counts as 0/1) is converted to
    a C-contiguous float32 copy; a contiguous float32 array is used as is. Non-contiguous and
    read-only arrays are fine as inputs. Complex, string, object and other non-real dtypes raise
    InputTypeError (a TypeError); a wrong shape raises InputError (a ValueError); both leave the
    state unchanged.

    NaN/Inf: inputs are not checked. In f32 and q8 models a NaN (or Inf) input propagates through
    the arithmetic into the outputs and the state (and so into every later step) until reset() or a
    state assignment. q15 models convert inputs to int16 at the boundary: NaN counts as 0, values
    beyond the calibrated range (±Inf included) saturate, so the integer state stays finite.

    q15 models also take raw int16 values: step_int16() / run_int16()."""

    cdef grt_stream s
    cdef readonly Model model
    cdef cnp.ndarray _mem
    cdef cnp.ndarray _work
    cdef tuple _x_shape, _y_shape  # expected shapes, built once (step is the hot path)
    cdef bint _busy  # True during a call into C (_Caller._call); only touched holding the GIL
    cdef bint _release_gil  # step()/step_int16() release the GIL only when the step outweighs that

    def __cinit__(self, Model model not None):
        self.model = model
        self._busy = False
        if model.model.needs_future:
            raise ArgumentError(f"{model._future_layer()} (it reads later steps), so a stream cannot "
                                f"step this model; Model.run(xs) runs it on whole sequences")
        cdef size_t size = grt_stream_size(&model.model)
        self._mem = _aligned_empty(<Py_ssize_t>size)
        _check(grt_stream_init(&self.s, &model.model, cnp.PyArray_DATA(self._mem), size),
               "stream init")
        self._work = None
        self._x_shape = (model.model.input_size,)
        self._y_shape = (model.model.output_size,)
        self._release_gil = _step_macs(&model.model) >= _NOGIL_MIN_MACS

    cdef inline int _enter(self) except -1:
        """Refuse if another thread is inside step/run on this stream. Called holding the GIL."""
        if self._busy:
            raise RuntimeError("this Stream is in use by another thread; use one stream per thread")
        return 0

    cdef int _claim(self) except -1:
        self._enter()
        self._busy = True
        return 0

    cdef void _release(self) noexcept:
        self._busy = False

    def step(self, x, out=None):
        """One time step: x of shape (input_size,) → output of shape (output_size,).

        x may be any real array-like (converted to contiguous float32; a float32 contiguous array
        is used as is). out: an optional writable C-contiguous float32 array of shape
        (output_size,) to write into (avoids an allocation); it is returned.
        Raises RuntimeError if another thread is using this stream."""
        return self._step(x, out, False)

    def step_int16(self, x, out=None):
        """q15 models: one step on raw int16 values (no float boundary): x (input_size,) int16 →
        (output_size,) int16, in the units of Model.input_scale/output_scale. out: optional
        writable C-contiguous int16 array. ValueError for a model that is not q15."""
        return self._step(x, out, True)

    cdef cnp.ndarray _step(self, x, out, bint int16):
        """step() and step_int16(): one C call (_Caller._call)."""
        self._enter()
        cdef const grt_model *m = self.s.model
        if int16:
            _require_q15(self.model, "step_int16")
        cdef cnp.ndarray xa, ya
        # The common case (a float32 vector of the right length) without the general conversion.
        if not int16 and not self.model.vocab_size and _is_f32_vector(x, m.input_size):
            xa = <cnp.ndarray>x
        else:
            xa = _as_input(self.model._joined(x, ((),), int16, "x"), self._x_shape, "x", int16)
        if (not int16 and _is_f32_vector(out, m.output_size)
                and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out)):
            ya = <cnp.ndarray>out
        else:
            ya = _output(out, self._y_shape, int16)
        cdef _Call c
        memset(&c, 0, sizeof(c))
        c.op, c.int16, c.stream = _STEP, int16, &self.s
        c.xs, c.ys = cnp.PyArray_DATA(xa), cnp.PyArray_DATA(ya)
        # Converting x may have run Python code (and let another thread in): _call checks again.
        self._call(&c, self._release_gil, "step_int16" if int16 else "step")
        return ya

    def run(self, xs, out=None):
        """Run a (T, input_size) sequence from the current state → (T, output_size); the state
        moves on past the last step. Identical, bit for bit, to T calls of step(). T = 0 returns a
        (0, output_size) array and leaves the state as it was. Memory use beyond xs and the
        outputs does not grow with T (the work buffer covers 256 steps; longer runs go in chunks).
        Raises RuntimeError if another thread is using this stream."""
        return self._run(xs, out, False)

    def run_int16(self, xs, out=None):
        """q15 models: run() on raw int16 values, (T, input_size) → (T, output_size) int16;
        identical to T calls of step_int16()."""
        return self._run(xs, out, True)

    cdef cnp.ndarray _run(self, xs, out, bint int16):
        """run() and run_int16(): one C call (_Caller._call)."""
        self._enter()
        cdef const grt_model *m = self.s.model
        if int16:
            _require_q15(self.model, "run_int16")
        cdef cnp.ndarray xa = _as_input(self.model._joined(xs, (("T",),), int16, "xs"),
                                        (None, m.input_size), "xs", int16)
        cdef Py_ssize_t T = xa.shape[0]
        cdef cnp.ndarray ya = _output(out, (T, m.output_size), int16)
        if out is not None:
            _refuse_overlap(xa, ya)
        if self._work is None:
            self._work = _aligned_empty(<Py_ssize_t>grt_run_work_size(m, _RUN_CHUNK_STEPS))
        cdef _Call c
        memset(&c, 0, sizeof(c))
        c.op, c.int16, c.stream, c.T = _RUN, int16, &self.s, <size_t>T
        c.xs, c.ys = cnp.PyArray_DATA(xa), cnp.PyArray_DATA(ya)
        c.work, c.work_size = cnp.PyArray_DATA(self._work), <size_t>self._work.shape[0]
        self._call(&c, True, "run_int16" if int16 else "run")
        return ya

    @property
    def _work_nbytes(self):
        """Bytes of run()'s work buffer (0 before the first run): fixed by the model, not by T.
        Diagnostic, for tests."""
        return 0 if self._work is None else int(self._work.shape[0])

    def reset(self):
        """Zero the state of every recurrent layer. Raises RuntimeError if another thread is
        using this stream."""
        self._enter()
        grt_stream_reset(&self.s)

    @property
    def state(self):
        """A copy of the hidden state: (state_size,), the GRU layers' vectors and the LSTM layers'
        (h, c) pairs concatenated in layer order (see Model.layers[k].state_offset); float32 for f32/q8 models, int16 (Q15: value ×
        2^15) for q15 models. Setting it copies a (state_size,) array-like in: real numbers for
        f32/q8, integers within int16 for q15. Both raise RuntimeError if another thread is using
        this stream."""
        self._enter()
        cdef const grt_model *m = self.s.model
        cdef cnp.npy_intp n = m.state_size
        out = np.empty(n, dtype=_state_dtype(m))
        if n:
            memcpy(cnp.PyArray_DATA(out), self.s.state, n * out.itemsize)
        return out

    @state.setter
    def state(self, value):
        self._enter()
        cdef const grt_model *m = self.s.model
        cdef cnp.ndarray arr
        if m.q15:
            arr = _as_i16(value, (m.state_size,), "state")
        else:
            arr = _as_f32(value, (m.state_size,), "state")
        cdef size_t n = m.state_size
        self._enter()  # converting value may have run Python code
        if n:
            memcpy(self.s.state, cnp.PyArray_DATA(arr), n * arr.itemsize)

    def __repr__(self):
        return f"<gru_rt.Stream over {self.model!r}>"


cdef class StreamBatch(_Caller):
    """Several streams of one Model stepped together: one call steps them all, reading each weight
    matrix once per step for all of them instead of once per stream (a server with many live
    sessions). Each stream keeps its own state, and stays a normal Stream: it can be stepped, run,
    reset, read or assigned on its own between batch calls. Per stream the results are identical,
    bit for bit, to Stream.step (at the same kernel level).

    StreamBatch(streams): a non-empty sequence of distinct Stream objects of one Model (Model
    .stream_batch(n) makes n new ones). The batch holds the C work buffer and the array of stream
    pointers, so step(xs, out=...) allocates nothing.

    Threads: a call claims every member stream for its duration (with the GIL released around the C
    call, except for a step of fewer than 16,384 multiply-adds over all members, as Stream.step);
    while it runs, any other use of a member, alone or through another batch, raises RuntimeError,
    and so does a batch call while one of its members is in use elsewhere."""

    cdef readonly Model model
    cdef tuple _streams
    cdef grt_stream **_ptrs
    cdef void **_xps      # ragged runs: each member's input rows,
    cdef void **_yps      # its output rows
    cdef size_t *_lens    # and its length
    cdef size_t _n
    cdef cnp.ndarray _work      # grt_batch_work_size: one step
    cdef cnp.ndarray _run_work  # run(): chunks of _run_chunk steps, made on first use
    cdef size_t _run_chunk
    cdef tuple _x_shape, _y_shape
    cdef bint _release_gil  # step()/step_int16(): as Stream, for the multiply-adds of all members

    def __cinit__(self, streams):
        self._ptrs = NULL
        self._xps = self._yps = NULL
        self._lens = NULL
        members = tuple(streams)
        if not members:
            raise ArgumentError("a StreamBatch needs at least one Stream")
        cdef Py_ssize_t k
        first = {}
        for k in range(len(members)):
            if not isinstance(members[k], Stream):
                raise TypeError(f"streams[{k}] is a {type(members[k]).__name__}, not a gru_rt.Stream")
            if (<Stream>members[k]).model is not (<Stream>members[0]).model:
                raise ArgumentError(f"streams[{k}] belongs to another Model than streams[0]")
            # by identity: a Stream is one state (equal-looking streams are still distinct)
            if first.setdefault(id(members[k]), k) != k:
                raise ArgumentError(f"streams[{k}] is the same Stream as streams[{first[id(members[k])]}]")
        self._streams = members
        self._n = <size_t>len(members)
        self.model = (<Stream>members[0]).model
        self._ptrs = <grt_stream **>PyMem_Malloc(self._n * sizeof(grt_stream *))
        self._xps = <void **>PyMem_Malloc(self._n * sizeof(void *))
        self._yps = <void **>PyMem_Malloc(self._n * sizeof(void *))
        self._lens = <size_t *>PyMem_Malloc(self._n * sizeof(size_t))
        if self._ptrs == NULL or self._xps == NULL or self._yps == NULL or self._lens == NULL:
            raise MemoryError()
        for k in range(len(members)):
            self._ptrs[k] = &(<Stream>members[k]).s
        cdef const grt_model *m = &self.model.model
        self._work = _aligned_empty(<Py_ssize_t>grt_batch_work_size(m, self._n))
        self._run_work = None
        self._run_chunk = max(1, _RUN_CHUNK_STEPS // self._n)
        self._x_shape = (len(members), m.input_size)
        self._y_shape = (len(members), m.output_size)
        self._release_gil = _step_macs(m) * self._n >= _NOGIL_MIN_MACS

    def __dealloc__(self):
        PyMem_Free(self._ptrs)
        PyMem_Free(self._xps)
        PyMem_Free(self._yps)
        PyMem_Free(self._lens)

    def __len__(self):
        return len(self._streams)

    @property
    def streams(self):
        """The member streams, in row order (row b of xs feeds streams[b])."""
        return self._streams

    def __repr__(self):
        return f"<gru_rt.StreamBatch of {len(self._streams)} streams over {self.model!r}>"

    cdef int _check_free(self) except -1:
        """Refuse if a member is inside a call in another thread. Called holding the GIL."""
        cdef Py_ssize_t k
        for k in range(len(self._streams)):
            if (<Stream>self._streams[k])._busy:
                raise RuntimeError(f"stream {k} of this StreamBatch is in use by another thread; "
                                   f"use each stream (and batch) from one thread at a time")
        return 0

    cdef int _claim(self) except -1:
        """_check_free, then mark every member busy, with no Python code in between."""
        self._check_free()
        cdef Py_ssize_t k
        for k in range(len(self._streams)):
            (<Stream>self._streams[k])._busy = True
        return 0

    cdef void _release(self) noexcept:
        cdef Py_ssize_t k
        for k in range(len(self._streams)):
            (<Stream>self._streams[k])._busy = False

    def step(self, xs, out=None):
        """One time step of every stream: xs (B, input_size), row b feeding streams[b] →
        (B, output_size). xs may be any real array-like (a C-contiguous float32 array is used as
        is); out: an optional writable C-contiguous float32 (B, output_size) array (no allocation
        then), returned. Raises RuntimeError if a member is in use by another thread."""
        return self._step(xs, out, False)

    def step_int16(self, xs, out=None):
        """q15 models: step() on raw int16 values, xs (B, input_size) int16 → (B, output_size)
        int16 (out: optional writable C-contiguous int16 array). ValueError for other models."""
        return self._step(xs, out, True)

    cdef cnp.ndarray _step(self, xs, out, bint int16):
        """step() and step_int16(): one C call (_Caller._call)."""
        self._check_free()
        if int16:
            _require_q15(self.model, "step_int16")
        cdef cnp.ndarray xa = _as_input(self.model._joined(xs, (("B",),), int16, "xs"),
                                        self._x_shape, "xs", int16)
        cdef cnp.ndarray ya = _output(out, self._y_shape, int16)
        cdef _Call c = self._batch_call(_BATCH_STEP, int16, self._work)
        c.xs, c.ys = cnp.PyArray_DATA(xa), cnp.PyArray_DATA(ya)
        # Converting xs may have run Python code (and let another thread in): _call checks again.
        self._call(&c, self._release_gil, "StreamBatch.step_int16" if int16 else "StreamBatch.step")
        return ya

    cdef _Call _batch_call(self, _Op op, bint int16, cnp.ndarray work):
        """A call on every member, with this work buffer (the caller sets xs, ys and T)."""
        cdef _Call c
        memset(&c, 0, sizeof(c))
        c.op, c.int16, c.streams, c.n = op, int16, self._ptrs, self._n
        c.work, c.work_size = cnp.PyArray_DATA(work), <size_t>work.shape[0]
        return c

    cdef tuple _run_buffers(self, Py_ssize_t T):
        """run()'s work buffer (made on first use) and the output shape for T steps."""
        if self._run_work is None:
            self._run_work = _aligned_empty(<Py_ssize_t>grt_batch_run_work_size(
                &self.model.model, self._n, self._run_chunk))
        return self._run_work, (len(self._streams), T, self.model.model.output_size)

    def run(self, xs, out=None, *, lengths=None, readout="all"):
        """T steps of every stream: xs (B, T, input_size), xs[b] feeding streams[b] → (B, T,
        output_size), identical bit for bit to streams[b].run(xs[b]) for each b, the streams
        stepped in lockstep. Each state moves on past its last step. out: optional writable
        C-contiguous float32 array of the output shape.

        Sequences of different lengths: xs a list of B (T_b, input_size) arrays → a list of
        (T_b, output_size) arrays; or xs padded (B, T, input_size) with lengths= (B integers in
        [0, T]) → (B, T, output_size), zero past each length (the padding is never stepped
        through). Each stream stops after its own last step, bit-identical to
        streams[b].run(sequence b); the streams still running are stepped together.
        readout='last': each sequence's output at its own last step, (B, output_size); 'first':
        at its step 0."""
        return self._run(xs, out, lengths, readout, False)

    def run_int16(self, xs, out=None, *, lengths=None, readout="all"):
        """q15 models: run() on raw int16 values, (B, T, input_size) → (B, T, output_size) int16,
        and the same ragged forms (a list, or padded with lengths=) and readout."""
        return self._run(xs, out, lengths, readout, True)

    cdef object _run(self, xs, out, lengths, str readout, bint int16):
        """run() and run_int16(): one C call (_Caller._call), or the ragged forms."""
        self._check_free()
        if int16:
            _require_q15(self.model, "run_int16")
        _check_readout(readout)
        xs = self.model._joined(xs, (("B", "T"),), int16, "xs")
        if lengths is not None or readout != "all" or _is_sequence_list(xs):
            return self._run_sequences(xs, out, lengths, readout, int16)
        cdef cnp.ndarray xa = _as_input(xs, (len(self._streams), None, self.model.model.input_size),
                                        "xs", int16)
        cdef Py_ssize_t T = xa.shape[1]
        work, shape = self._run_buffers(T)
        cdef cnp.ndarray ya = _output(out, shape, int16)
        _refuse_overlap(xa, ya)
        cdef _Call c = self._batch_call(_BATCH_RUN, int16, work)
        c.xs, c.ys, c.T = cnp.PyArray_DATA(xa), cnp.PyArray_DATA(ya), <size_t>T
        self._call(&c, True, "StreamBatch.run_int16" if int16 else "StreamBatch.run")
        return ya

    cdef object _run_sequences(self, xs, out, lengths, str readout, bint int16):
        """run() of the ragged forms, and of readout='last'."""
        seqs, lens, padded = _sequences(xs, lengths, self.model.model.input_size, int16)
        if len(seqs) != len(self._streams):
            raise InputError(f"xs holds {len(seqs)} sequences, this StreamBatch has "
                             f"{len(self._streams)} streams")
        cdef Py_ssize_t O = self.model.model.output_size
        dtype = np.int16 if int16 else np.float32
        if out is None:
            ys, result = _sequence_outputs(lens, padded, O, dtype)
        elif padded is None or readout != "all":
            raise InputError("out= goes with a padded (B, T, I) array and readout='all'")
        else:
            result = _check_out(out, (padded.shape[0], padded.shape[1], O), "out",
                                cnp.NPY_INT16 if int16 else cnp.NPY_FLOAT32)
            _refuse_overlap(padded, result)  # before the padding rows of out are zeroed
            ys = [result[k] for k in range(len(seqs))]
            for k in range(len(seqs)):
                ys[k][lens[k]:] = 0
        self._run_rows(seqs, lens, ys, int16)
        return _step_outputs(ys, lens, O, dtype, readout) if readout != "all" else result

    cdef int _run_rows(self, list seqs, lens, list ys, bint int16) except -1:
        """Stream k runs the first lens[k] rows of seqs[k] into ys[k] (C-contiguous arrays of
        this model's widths and dtype, at least lens[k] rows each): grt_streams_run_ragged."""
        self._check_free()
        cdef Py_ssize_t k
        for k in range(len(self._streams)):
            self._xps[k] = cnp.PyArray_DATA(<cnp.ndarray>seqs[k])
            self._yps[k] = cnp.PyArray_DATA(<cnp.ndarray>ys[k])
            self._lens[k] = <size_t>lens[k]
        cdef _Call c = self._batch_call(_BATCH_RAGGED, int16, self._run_buffers(0)[0])
        c.xs, c.ys, c.lengths = <const void *>self._xps, <void *>self._yps, self._lens
        self._call(&c, True, "StreamBatch.run_int16" if int16 else "StreamBatch.run")
        return 0
