"""StreamBatch: several streams of one model stepped together, bit-identical per stream to
Stream.step (f32 in both weight layouts, q8 and q15; both reset_after modes; multi-layer models with
Dense layers; every kernel level; different starting states; members stepped, reset and assigned on
their own between batch steps); Model.run of (N, T, I) in lockstep == one run per sequence;
argument errors; no allocation with out=; the busy flags shared with Stream."""

from __future__ import annotations

import contextlib
import threading
import time

import numpy as np
import pytest

import gru_rt
from gru_rt.quantize import quantize
from gru_rt.spec import DenseLayer, GRULayer, ModelSpec

from .test_golden import random_float_model
from .test_no_alloc import _bytes_allocated_by

AVAILABLE = gru_rt.cpu_info()["available"]
BATCH_SIZES = (1, 2, 3, 7, 16, 33)
BUSY = "in use by another thread"


def load(spec: ModelSpec, precision: str, seed: int = 0) -> gru_rt.Model:
    if precision == "f32":
        return gru_rt.load(spec.to_bytes())
    calibration = np.random.default_rng(seed).normal(0, 1, (4, 40, spec.input_size))
    return gru_rt.load(quantize(spec, precision, calibration)[0].to_bytes())


def two_gru_model(precision: str, reset_after: bool) -> gru_rt.Model:
    """GRU(7→17) → GRU(17→17) → Dense(17→5, softmax)."""
    rng = np.random.default_rng(11 + reset_after)
    gate = "sigmoid" if reset_after else "hard_sigmoid"
    spec = random_float_model(7, 17, 5, rng, reset_after=reset_after, gate=gate, head="softmax",
                              two_grus=True)
    return load(spec, precision)


def dense_first_model(precision: str) -> gru_rt.Model:
    """Dense(6→33, tanh) → GRU(33→9, reset_after=0) → Dense(9→4): a GRU between Dense layers."""
    rng = np.random.default_rng(5)
    spec = ModelSpec([
        DenseLayer(rng.normal(0, 0.4, (33, 6)), rng.normal(0, 0.2, 33), activation="tanh"),
        GRULayer(rng.normal(0, 0.3, (27, 33)), rng.normal(0, 0.4, (27, 9)),
                 rng.normal(0, 0.3, 27), rng.normal(0, 0.3, 27), reset_after=False),
        DenseLayer(rng.normal(0, 0.5, (4, 9)), rng.normal(0, 0.2, 4)),
    ])
    return load(spec, precision)


def panel8_model() -> gru_rt.Model:
    """GRU(5→16) → GRU(16→24, reset_after=0) → Dense(24→3): f32 layers the writer stores in the
    panel8 weight layout (H % 8 = 0), with their own products."""
    rng = np.random.default_rng(9)
    spec = random_float_model(5, 16, 3, rng, reset_after=True, gate="sigmoid", head="softmax")
    second = random_float_model(16, 24, 3, rng, reset_after=False, gate="sigmoid", head="linear")
    model = ModelSpec([spec.layers[0], second.layers[0], second.layers[1]]).load()
    assert {layer.weight_layout for layer in model.layers} == {"panel8"}
    return model


def random_state(model: gru_rt.Model, rng: np.random.Generator) -> np.ndarray:
    if model.precision == "q15":
        return rng.integers(-30000, 30001, model.state_size).astype(np.int16)
    return rng.uniform(-1, 1, model.state_size).astype(np.float32)


Streams = list[gru_rt.Stream]


def streams_with_states(model: gru_rt.Model, n: int,
                        rng: np.random.Generator) -> tuple[Streams, Streams]:
    """n streams with different random states, and n twins with the same states."""
    members, twins = [], []
    for _ in range(n):
        state = random_state(model, rng)
        a, b = model.stream(), model.stream()
        a.state = state
        b.state = state
        members.append(a)
        twins.append(b)
    return members, twins


def assert_states_equal(members: list[gru_rt.Stream], twins: list[gru_rt.Stream]) -> None:
    for k, (a, b) in enumerate(zip(members, twins)):
        assert np.array_equal(a.state, b.state), f"state of stream {k} differs"


def check_batch_against_twins(model: gru_rt.Model, n: int, seed: int) -> None:
    """Batch steps against single steps of twins, with the members used on their own in between;
    then batch runs against single runs."""
    rng = np.random.default_rng(seed)
    members, twins = streams_with_states(model, n, rng)
    batch = gru_rt.StreamBatch(members)
    for t in range(30):
        xs = rng.normal(0, 1.5, (n, model.input_size)).astype(np.float32)
        ys = batch.step(xs)
        expected = np.stack([s.step(x) for s, x in zip(twins, xs)])
        assert np.array_equal(ys, expected), f"outputs differ at step {t}"
        assert_states_equal(members, twins)
        if t == 10:  # a member stepped alone between batch steps
            x = rng.normal(0, 1, model.input_size)
            assert np.array_equal(members[0].step(x), twins[0].step(x))
        if t == 15:
            members[-1].reset()
            twins[-1].reset()
        if t == 20:
            state = random_state(model, rng)
            members[n // 2].state = state
            twins[n // 2].state = state
    x3 = rng.normal(0, 1.5, (n, 23, model.input_size)).astype(np.float32)
    np.testing.assert_array_equal(batch.run(x3), np.stack([s.run(x) for s, x in zip(twins, x3)]))
    assert_states_equal(members, twins)
    if model.precision == "q15":
        xq = rng.integers(-20000, 20001, (n, model.input_size)).astype(np.int16)
        expected = np.stack([s.step_int16(x) for s, x in zip(twins, xq)])
        np.testing.assert_array_equal(batch.step_int16(xq), expected)
        xq3 = rng.integers(-20000, 20001, (n, 9, model.input_size)).astype(np.int16)
        expected = np.stack([s.run_int16(x) for s, x in zip(twins, xq3)])
        np.testing.assert_array_equal(batch.run_int16(xq3), expected)
        assert_states_equal(members, twins)


@pytest.mark.parametrize("n", BATCH_SIZES)
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
def test_batch_equals_single_streams(each_isa: str, precision: str, reset_after: bool,
                                     n: int) -> None:
    check_batch_against_twins(two_gru_model(precision, reset_after), n, seed=n)


@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
def test_batch_equals_single_streams_dense_first(each_isa: str, precision: str) -> None:
    for n in (1, 7, 33):
        check_batch_against_twins(dense_first_model(precision), n, seed=100 + n)


@pytest.mark.parametrize("n", (1, 3, 16, 33))
def test_batch_equals_single_streams_panel8(each_isa: str, n: int) -> None:
    check_batch_against_twins(panel8_model(), n, seed=200 + n)


@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
def test_model_run_of_many_sequences_equals_one_run_each(each_isa: str, precision: str) -> None:
    """Model.run (N, T, I) steps groups of sequences in lockstep: the same bits as one run per
    sequence, for N below, at and above the group size."""
    model = two_gru_model(precision, reset_after=True)
    rng = np.random.default_rng(3)
    for n in (1, 3, 32, 70):
        xs = rng.normal(0, 1.5, (n, 41, model.input_size)).astype(np.float32)
        ys, states = model.run(xs, return_state=True)
        for k in range(n):
            y, state = model.run(xs[k], return_state=True)
            assert np.array_equal(ys[k], y), f"sequence {k} of {n}"
            assert np.array_equal(states[k], state), f"final state {k} of {n}"
    assert model.run(np.zeros((0, 5, 7), np.float32)).shape == (0, 5, 5)
    ys, states = model.run(np.zeros((4, 0, 7), np.float32), return_state=True)
    assert ys.shape == (4, 0, 5) and not states.any()
    if precision == "q15":
        xq = rng.integers(-20000, 20001, (37, 12, 7)).astype(np.int16)
        ys_q, states_q = model.run_int16(xq, return_state=True)
        for k in range(37):
            y, state = model.run_int16(xq[k], return_state=True)
            assert np.array_equal(ys_q[k], y) and np.array_equal(states_q[k], state)


# --- the object ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def f32_model() -> gru_rt.Model:
    return two_gru_model("f32", reset_after=True)


def test_stream_batch_basics(f32_model: gru_rt.Model) -> None:
    members = [f32_model.stream() for _ in range(3)]
    batch = gru_rt.StreamBatch(members)
    assert len(batch) == 3 and batch.model is f32_model
    assert batch.streams == tuple(members) and all(a is b for a, b in zip(batch.streams, members))
    assert "StreamBatch of 3 streams" in repr(batch)
    made = f32_model.stream_batch(4)
    assert len(made) == 4 and all(not s.state.any() for s in made.streams)
    assert len({id(s) for s in made.streams}) == 4
    ys = np.empty((4, 5), np.float32)
    assert made.step(np.zeros((4, 7)), out=ys) is ys
    # any real array-like is converted, as Stream.step does
    np.testing.assert_array_equal(f32_model.stream_batch(4).step([[1] * 7] * 4),
                                  f32_model.stream_batch(4).step(np.ones((4, 7), np.float32)))


def test_construction_errors(f32_model: gru_rt.Model) -> None:
    a, b = f32_model.stream(), f32_model.stream()
    with pytest.raises(ValueError, match="at least one"):
        gru_rt.StreamBatch([])
    with pytest.raises(ValueError, match="at least one"):
        f32_model.stream_batch(0)
    with pytest.raises(TypeError, match=r"streams\[1\] is a int"):
        gru_rt.StreamBatch([a, 3])
    with pytest.raises(TypeError):
        gru_rt.StreamBatch(5)  # not a sequence
    same_bytes = gru_rt.load(f32_model.to_bytes())  # equal bytes, another Model
    with pytest.raises(ValueError, match=r"streams\[2\] belongs to another Model"):
        gru_rt.StreamBatch([a, b, same_bytes.stream()])
    with pytest.raises(ValueError, match=r"streams\[2\] is the same Stream as streams\[0\]"):
        gru_rt.StreamBatch([a, b, a])


def test_argument_errors_leave_the_states_unchanged(f32_model: gru_rt.Model) -> None:
    rng = np.random.default_rng(8)
    members, _ = streams_with_states(f32_model, 3, rng)
    batch = gru_rt.StreamBatch(members)
    before = [s.state for s in members]
    bad_calls = [
        (ValueError, lambda: batch.step(np.zeros((2, 7)))),      # B rows: 3
        (ValueError, lambda: batch.step(np.zeros((3, 6)))),
        (ValueError, lambda: batch.step(np.zeros(21))),
        (TypeError, lambda: batch.step(np.zeros((3, 7), complex))),
        (TypeError, lambda: batch.step(np.zeros((3, 7)), out=[0.0] * 15)),
        (ValueError, lambda: batch.step(np.zeros((3, 7)), out=np.empty((3, 5), np.float64))),
        (ValueError, lambda: batch.step(np.zeros((3, 7)), out=np.empty((3, 4), np.float32))),
        (ValueError, lambda: batch.step(np.zeros((3, 7)), out=np.empty((5, 3), np.float32).T)),
        (ValueError, lambda: batch.step_int16(np.zeros((3, 7), np.int16))),  # not a q15 model
        (ValueError, lambda: batch.run(np.zeros((2, 4, 7)))),
        (ValueError, lambda: batch.run(np.zeros((3, 7)))),
        (ValueError, lambda: batch.run(np.zeros((3, 4, 7)), out=np.empty((3, 5, 5), np.float32))),
    ]
    for error, call in bad_calls:
        with pytest.raises(error):
            call()
    for s, state in zip(members, before):
        assert np.array_equal(s.state, state)


def test_int16_argument_errors() -> None:
    model = two_gru_model("q15", reset_after=False)
    batch = model.stream_batch(2)
    with pytest.raises(TypeError, match="int16"):
        batch.step_int16(np.zeros((2, 7), np.float32))
    with pytest.raises(ValueError, match="int16 range"):
        batch.step_int16(np.full((2, 7), 40000))
    with pytest.raises(ValueError):
        batch.step_int16(np.zeros((2, 7), np.int16), out=np.empty((2, 5), np.float32))
    assert not any(s.state.any() for s in batch.streams)


@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
def test_step_and_run_with_out_allocate_nothing(precision: str) -> None:
    model = two_gru_model(precision, reset_after=True)
    batch = model.stream_batch(5)
    xs, ys = np.ones((5, 7), np.float32), np.empty((5, 5), np.float32)
    x3, y3 = np.ones((5, 30, 7), np.float32), np.empty((5, 30, 5), np.float32)
    step, run = batch.step, batch.run  # bound once: a method lookup may allocate
    assert _bytes_allocated_by(lambda: step(xs, out=ys)) == 0
    assert _bytes_allocated_by(lambda: run(x3, out=y3)) == 0
    if precision == "q15":
        xq, yq = np.ones((5, 7), np.int16), np.empty((5, 5), np.int16)
        step_q = batch.step_int16
        assert _bytes_allocated_by(lambda: step_q(xq, out=yq)) == 0
    assert _bytes_allocated_by(lambda: step(xs)) > 0  # the probe sees a new output array


# --- threads ------------------------------------------------------------------------------------

def busy_window(long_call, probe) -> list[str]:
    """Start long_call in a thread and call probe from this one until it raises RuntimeError (the
    busy window was hit) or the thread ends; returns the messages of every refusal seen."""
    started = threading.Event()

    def runner() -> None:
        started.set()
        # The probe may claim a shared stream first: that round missed the window (retried).
        with contextlib.suppress(RuntimeError):
            long_call()

    t = threading.Thread(target=runner)
    t.start()
    started.wait()
    refusals: list[str] = []
    while t.is_alive() and not refusals:
        try:
            probe()
        except RuntimeError as e:
            refusals.append(str(e))
    t.join()
    return refusals


def test_members_are_busy_during_a_batch_call_and_the_other_way_round() -> None:
    big = ModelSpec([GRULayer(*(np.random.default_rng(1).normal(0, 0.05, shape)
                                for shape in ((1536, 8), (1536, 512), (1536,), (1536,))))]).load()
    members = [big.stream() for _ in range(4)]
    batch = gru_rt.StreamBatch(members)
    x3 = np.zeros((4, 400, 8), np.float32)
    deadline = time.monotonic() + 60
    refusals: list[str] = []
    while not refusals and time.monotonic() < deadline:  # a member, while the batch runs
        refusals = busy_window(lambda: batch.run(x3), lambda: members[2].state)
    assert refusals and BUSY in refusals[0]
    refusals = []
    while not refusals and time.monotonic() < deadline:  # the batch, while a member runs alone
        refusals = busy_window(lambda: members[1].run(x3[1]), lambda: batch.step(x3[:, 0]))
    assert refusals and "stream 1 of this StreamBatch is " + BUSY in refusals[0]
    other = gru_rt.StreamBatch([members[3], big.stream()])
    refusals = []
    while not refusals and time.monotonic() < deadline:  # two batches sharing a member
        refusals = busy_window(lambda: batch.run(x3), lambda: other.step(x3[:2, 0]))
    assert refusals and "stream 0 of this StreamBatch" in refusals[0]
    # the flags are released after each call, refused or not
    assert batch.step(x3[:, 0]).shape == (4, 512) and other.step(x3[:2, 0]).shape == (2, 512)
