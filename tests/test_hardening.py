"""Hardening of the Python layer: concurrent use of one Stream, bad and unusual inputs, NaN/Inf,
very long sequences. (Model lifetime and ownership of loaded bytes are in test_runtime.py.)"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import gru_rt
from gru_rt.spec import DenseLayer, GRULayer, ModelSpec

BUSY = "in use by another thread"


def make_model(i: int, h: int, o: int, *, seed: int = 0, act: str = "tanh",
               gate: str = "sigmoid", head: str = "linear") -> gru_rt.Model:
    rng = np.random.default_rng(seed)
    scale = 1.0 / np.sqrt(h)
    return ModelSpec([
        GRULayer(rng.normal(0, 0.5, (3 * h, i)), rng.normal(0, scale, (3 * h, h)),
                 rng.normal(0, 0.3, 3 * h), rng.normal(0, 0.3, 3 * h),
                 activation=act, gate_activation=gate),
        DenseLayer(rng.normal(0, 0.5, (o, h)), rng.normal(0, 0.3, o), activation=head),
    ]).load()


@pytest.fixture(scope="module")
def small() -> gru_rt.Model:
    return make_model(3, 6, 2, seed=1)


def stepped_stream(model: gru_rt.Model) -> gru_rt.Stream:
    s = model.stream()
    s.step(np.linspace(-1, 1, model.input_size))
    return s


# --- one stream, two threads ------------------------------------------------------------------

def one_attempt(model: gru_rt.Model, xs: np.ndarray) -> tuple[list[str], dict, gru_rt.Stream]:
    """Run xs on a new stream in a thread; meanwhile poll the stream from this thread with the
    state getter (which never changes the state) until the busy window is hit, then try every
    other operation, each of which must be refused without touching the state."""
    s = model.stream()
    started = threading.Event()
    result: dict = {}

    def runner() -> None:
        started.set()
        result["ys"] = s.run(xs)

    t = threading.Thread(target=runner)
    t.start()
    started.wait()
    refusals: list[str] = []
    ops = (lambda: s.step(xs[0]), lambda: s.run(xs[:5]), s.reset,
           lambda: setattr(s, "state", np.zeros(model.state_size)))
    while t.is_alive():
        try:
            _ = s.state
        except RuntimeError as e:
            refusals.append(str(e))
            for op in ops:
                try:
                    op()
                except RuntimeError as e2:
                    refusals.append(str(e2))
            break
    t.join()
    return refusals, result, s


def test_concurrent_use_of_one_stream_is_refused_and_results_stay_correct() -> None:
    model = make_model(8, 512, 4, seed=2)  # ~0.2 ms a step: run() below keeps the stream busy
    xs = np.random.default_rng(3).standard_normal((3000, 8)).astype(np.float32)
    expected, expected_state = model.run(xs, return_state=True)
    deadline = time.monotonic() + 60
    while True:  # bounded retries (missed the window, or it closed in the middle)
        refusals, result, s = one_attempt(model, xs)
        if len(refusals) == 5 or time.monotonic() > deadline:
            break
    assert len(refusals) == 5, "never caught the stream busy within the time bound"
    assert all(BUSY in r and "one stream per thread" in r for r in refusals)
    np.testing.assert_array_equal(result["ys"], expected)
    np.testing.assert_array_equal(s.state, expected_state)
    # and the stream works normally once the other thread is done
    s.reset()
    np.testing.assert_array_equal(s.run(xs[:10]), expected[:10])


def test_step_refused_while_another_thread_steps() -> None:
    """The same through step(): many threads hammering one stream never corrupt it silently:
    each call either runs whole or raises RuntimeError."""
    model = make_model(8, 256, 4, seed=4)
    s = model.stream()
    x = np.full(8, 0.1, np.float32)
    done = [0, 0]  # successful steps, refusals
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(300):
            try:
                s.step(x)
                ok, refused = 1, 0
            except RuntimeError as e:
                assert BUSY in str(e)
                ok, refused = 0, 1
            with lock:
                done[0] += ok
                done[1] += refused

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert done[0] + done[1] == 1200
    ref = model.stream()
    for _ in range(done[0]):  # the state is exactly that of done[0] serial steps
        ref.step(x)
    np.testing.assert_array_equal(s.state, ref.state)


# --- inputs that are accepted -----------------------------------------------------------------

def test_non_contiguous_and_fortran_inputs_are_copied_and_give_the_same_results(small) -> None:
    rng = np.random.default_rng(5)
    xs = rng.standard_normal((40, 3)).astype(np.float32)
    expected = small.run(xs)
    fortran = np.asfortranarray(xs)
    assert not fortran.flags.c_contiguous
    np.testing.assert_array_equal(small.run(fortran), expected)
    np.testing.assert_array_equal(small.stream().run(fortran), expected)
    wide = np.zeros((40, 6), np.float32)
    wide[:, ::2] = xs
    strided = wide[:, ::2]  # every other column: non-contiguous rows
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(small.run(strided), expected)
    s = small.stream()
    np.testing.assert_array_equal(np.stack([s.step(x) for x in strided]), expected)
    backwards = xs[::-1][::-1]  # negative strides twice: a view, equal values
    np.testing.assert_array_equal(small.run(backwards), expected)
    batch = np.asfortranarray(np.stack([xs, xs]))
    np.testing.assert_array_equal(small.run(batch), np.stack([expected, expected]))


def test_read_only_inputs_accepted_read_only_out_refused(small) -> None:
    xs = np.random.default_rng(6).standard_normal((20, 3)).astype(np.float32)
    expected = small.run(xs)
    ro = xs.copy()
    ro.flags.writeable = False
    np.testing.assert_array_equal(small.run(ro), expected)
    s = small.stream()
    np.testing.assert_array_equal(s.step(ro[0]), expected[0])
    before = s.state
    out = np.zeros(2, np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="writeable=False"):
        s.step(ro[1], out=out)
    outs = np.zeros((20, 2), np.float32)
    outs.flags.writeable = False
    with pytest.raises(ValueError, match="writable C-contiguous float32"):
        s.run(ro, out=outs)
    with pytest.raises(ValueError, match="contiguous=False"):
        s.run(ro, out=np.zeros((20, 4), np.float32)[:, ::2])
    np.testing.assert_array_equal(s.state, before)
    s.state = [0.0] * small.state_size  # a list works for state too
    np.testing.assert_array_equal(s.state, np.zeros(small.state_size, np.float32))


def test_empty_sequence_returns_no_rows_and_keeps_the_state(small) -> None:
    s = stepped_stream(small)
    before = s.state
    ys = s.run(np.zeros((0, 3), np.float32))
    assert ys.shape == (0, 2) and ys.dtype == np.float32
    out = np.zeros((0, 2), np.float32)
    assert s.run(np.zeros((0, 3)), out=out) is out
    np.testing.assert_array_equal(s.state, before)
    ys, state = small.run(np.zeros((0, 3)), return_state=True)
    assert ys.shape == (0, 2) and not state.any()
    assert small.run(np.zeros((2, 0, 3))).shape == (2, 0, 2)


def test_list_of_lists_and_integer_inputs_are_converted(small) -> None:
    xs = [[1, 0, -1], [0.5, 2, 3], [0, 0, 0]]
    expected = small.run(np.array(xs, np.float32))
    np.testing.assert_array_equal(small.run(xs), expected)
    np.testing.assert_array_equal(small.stream().run(xs), expected)
    np.testing.assert_array_equal(small.run(np.array(xs, np.float64)), expected)
    np.testing.assert_array_equal(small.run(np.array([[1, 0, -1]], np.int8)), expected[:1])


def test_bool_inputs_count_as_zero_and_one(small) -> None:
    mask = np.array([[True, False, True], [False, False, True]])
    np.testing.assert_array_equal(small.run(mask), small.run(mask.astype(np.float32)))
    s = small.stream()
    np.testing.assert_array_equal(s.step(mask[0]), small.run(mask[:1])[0])


# --- inputs that are refused, with no state change --------------------------------------------

@pytest.mark.parametrize("bad,error,words", [
    (np.zeros((2, 2, 3)), ValueError, "xs has shape (2, 2, 3), expected ('T', 3)"),
    (np.zeros(3), ValueError, "xs has shape (3,), expected ('T', 3)"),
    (np.float32(1.0), ValueError, "xs has shape (), expected ('T', 3)"),
    (np.zeros((4, 3), dtype=object), TypeError, "dtype object"),
    (np.full((4, 3), "1"), TypeError, "dtype <U1"),
    (np.zeros((4, 3), dtype=np.complex64), TypeError, "dtype complex64"),
    (np.zeros((4, 3), dtype="datetime64[s]"), TypeError, "dtype datetime64[s]"),
    ([[1, 2, 3], [4, 5]], ValueError, "inhomogeneous"),  # ragged list of lists
    ([[1, 2, 3], ["a", "b", "c"]], TypeError, "dtype <U"),
])
def test_bad_sequences_are_refused_without_state_change(small, bad: object, error: type,
                                                          words: str) -> None:
    s = stepped_stream(small)
    before = s.state
    with pytest.raises(error) as info:
        s.run(bad)
    assert words in str(info.value)
    np.testing.assert_array_equal(s.state, before)


@pytest.mark.parametrize("bad,error,words", [
    (np.zeros(4, np.float32), ValueError, "x has shape (4,), expected (3,)"),
    (np.zeros(0), ValueError, "x has shape (0,), expected (3,)"),
    (np.zeros((1, 3)), ValueError, "x has shape (1, 3), expected (3,)"),
    (np.float64(1.0), ValueError, "x has shape (), expected (3,)"),
    (np.array(["a", "b", "c"]), TypeError, "dtype <U1"),
    (np.zeros(3, dtype=object), TypeError, "dtype object"),
    ([1, 2, "3"], TypeError, "dtype <U"),
    (np.zeros(3, dtype=np.complex128), TypeError, "dtype complex128"),
    (None, TypeError, "dtype object"),
])
def test_bad_steps_are_refused_without_state_change(small, bad: object, error: type,
                                                    words: str) -> None:
    s = stepped_stream(small)
    before = s.state
    with pytest.raises(error) as info:
        s.step(bad)
    assert words in str(info.value)
    np.testing.assert_array_equal(s.state, before)


@pytest.mark.parametrize("bad,error,words", [
    (np.zeros(7), ValueError, "state has shape (7,), expected (6,)"),
    (np.zeros((1, 6)), ValueError, "state has shape (1, 6), expected (6,)"),
    (np.zeros(6, dtype=np.complex64), TypeError, "state has dtype complex64"),
    (np.zeros(6, dtype=object), TypeError, "state has dtype object"),
    ("abcdef", TypeError, "state has dtype <U6"),
    (1.0, ValueError, "state has shape (), expected (6,)"),
])
def test_bad_states_are_refused_without_state_change(small, bad: object, error: type,
                                                     words: str) -> None:
    assert small.state_size == 6
    s = stepped_stream(small)
    before = s.state
    with pytest.raises(error) as info:
        s.state = bad
    assert words in str(info.value)
    np.testing.assert_array_equal(s.state, before)
    with pytest.raises(error):
        small.run(np.zeros((2, 3)), state=bad)


def test_batch_run_with_the_wrong_input_size_is_refused(small) -> None:
    with pytest.raises(ValueError, match=r"xs has shape \(2, 5, 4\), expected \('T', 'T', 3\)"):
        small.run(np.zeros((2, 5, 4)))
    with pytest.raises(TypeError, match="complex"):
        small.run(np.zeros((2, 5, 3), complex))
    with pytest.raises(ValueError, match="expected"):
        small.run(np.zeros((1, 2, 5, 3)))


def test_stream_needs_a_model() -> None:
    with pytest.raises(TypeError, match="Model"):
        gru_rt.Stream(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Model"):
        gru_rt.Stream(b"not a model")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"gru_rt.load"):
        gru_rt.Model()  # only gru_rt.load makes models


# --- NaN / Inf --------------------------------------------------------------------------------

@pytest.mark.parametrize("act,gate,head", [("tanh", "sigmoid", "linear"),
                                           ("relu", "hard_sigmoid", "softmax")])
def test_nan_input_propagates_to_the_outputs_and_reset_recovers(act: str, gate: str,
                                                               head: str) -> None:
    model = make_model(3, 5, 2, seed=7, act=act, gate=gate, head=head)
    xs = np.random.default_rng(8).standard_normal((10, 3)).astype(np.float32)
    clean = model.run(xs)
    s = model.stream()
    s.run(xs[:3])
    y = s.step(np.array([np.nan, 0, 0], np.float32))
    assert np.isnan(y).all()
    assert np.isnan(s.state).any()
    assert np.isnan(s.run(xs)).all()  # the NaN is in the state: it stays until reset
    s.reset()
    np.testing.assert_array_equal(s.state, np.zeros(model.state_size, np.float32))
    np.testing.assert_array_equal(s.run(xs), clean)
    # and a NaN state set directly behaves the same way
    s.state = np.full(model.state_size, np.nan)
    assert np.isnan(s.step(xs[0])).all()
    s.state = np.zeros(model.state_size)
    np.testing.assert_array_equal(s.run(xs), clean)


def test_inf_input_never_crashes_and_reset_recovers() -> None:
    for act, gate in [("tanh", "sigmoid"), ("relu", "hard_sigmoid")]:
        model = make_model(3, 5, 2, seed=9, act=act, gate=gate)
        s = model.stream()
        for v in (np.inf, -np.inf):
            y = s.step(np.array([v, 1, 0], np.float32))
            assert y.shape == (2,)  # finite (saturated) or NaN, depending on the activations
        s.reset()
        xs = np.ones((4, 3), np.float32)
        np.testing.assert_array_equal(s.run(xs), model.run(xs))


# --- long sequences ---------------------------------------------------------------------------

def test_huge_sequence_completes_with_a_work_buffer_independent_of_t() -> None:
    model = make_model(1, 2, 1, seed=10)
    s = model.stream()
    assert s._work_nbytes == 0
    s.run(np.zeros((10, 1), np.float32))
    small_work = s._work_nbytes
    assert 0 < small_work < 64 * 1024
    s.reset()
    xs = np.tile(np.float32([[0.5], [-0.25], [1.0], [0.0]]), (500_000, 1))  # T = 2,000,000
    ys = s.run(xs)
    assert ys.shape == (2_000_000, 1) and np.isfinite(ys).all()
    assert s._work_nbytes == small_work  # chunked at 256 steps: no buffer proportional to T
    # the state after 2M steps equals that of the same run in pieces
    ref = model.stream()
    for k in range(0, 2_000_000, 250_000):
        ref.run(xs[k:k + 250_000])
    np.testing.assert_array_equal(s.state, ref.state)
