"""The `gru-rt` command line: convert, info, export-c, run, score.

User errors (bad files, arguments, shapes) end with one line on stderr and exit status 1 (2 for
argument syntax, from argparse); only a bug in gru_rt itself shows a traceback.
"""

from __future__ import annotations

import argparse
import io
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._version import __version__
from .errors import ArgumentError, ConversionError, GruRtError, printable
from .format import PRECISION_NAMES

if TYPE_CHECKING:
    from ._core import Model


class UsageError(ArgumentError):
    """A command-line argument that is well-formed for argparse but wrong for the command."""


def _key_value(text: str, what: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"{what} {text!r} is not of the form NAME=VALUE")
    return key, value


def _input_width(text: str) -> tuple[str, int]:
    name, width = _key_value(text, "--input")
    if not (width.isascii() and width.isdigit()):
        raise UsageError(f"--input {text!r}: the width {width!r} is not a whole number")
    return name, int(width)


def _causal_conv(text: str) -> tuple[str, int]:
    """--causal PREFIX=DILATION."""
    name, dilation = _key_value(text, "--causal")
    if not (dilation.isascii() and dilation.isdigit()) or int(dilation) < 1:
        raise UsageError(f"--causal {text!r}: the dilation {dilation!r} is not a whole number "
                         f">= 1")
    return name, int(dilation)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and a.samefile(b))
    except OSError:
        return False


def cmd_convert(args: argparse.Namespace) -> int:
    from .convert import convert

    src, out = Path(args.source), Path(args.output)
    if _same_file(src, out):
        raise UsageError(f"output {out} is the input file; choose another output path")
    if args.calibration is not None and _same_file(Path(args.calibration), out):
        raise UsageError(f"output {out} is the calibration file; choose another output path")
    activations = dict(_key_value(t, "--activation") for t in args.activation)
    metadata = dict(_key_value(t, "--meta") for t in args.meta)
    inputs = [_input_width(t) for t in args.input] or None
    order = [p.strip() for p in args.layers.split(",")] if args.layers is not None else None
    causal = dict(_causal_conv(t) for t in args.causal) or None
    if args.calibration is not None and args.precision == "f32":
        raise UsageError("--calibration applies to --precision q8 or q15")
    if args.verify_input is not None and args.no_verify:
        raise UsageError("--verify-input is given with --no-verify")
    verify_input = _load_verify_input(Path(args.verify_input)) if args.verify_input else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        spec = convert(src, head_activation=args.head_activation,
                       activations=activations or None, convention=args.convention,
                       metadata=metadata or None, architecture=args.architecture, layers=order,
                       precision=args.precision, calibration=args.calibration,
                       verify=not args.no_verify, verify_input=verify_input, inputs=inputs,
                       causal=causal, layernorm_eps=args.layernorm_eps)
    for warning in caught:
        print(f"gru-rt: warning: {warning.message}", file=sys.stderr)
    path = spec.save(out, weight_layout=args.weight_layout)
    layers = " → ".join(f"{layer.kind}({layer.input_size}→{layer.output_size})"
                        for layer in spec.layers)
    print(f"wrote {path} ({path.stat().st_size} bytes, {args.precision}): {layers}")
    print(f"  source.verified: {spec.metadata['source.verified']}")
    report = sorted((k, v) for k, v in spec.metadata.items() if k.startswith("quant."))
    for key, value in report:
        print(f"  {key}: {value}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from . import cpu_info, load

    if args.model is None and not args.cpu:
        raise UsageError("info needs a MODEL (or --cpu)")
    if args.cpu:
        info = cpu_info()
        print(f"kernels: {info['isa']} (best on this CPU and build: {info['best']}; available: "
              f"{', '.join(info['available'])}; GRU_RT_ISA forces one); f32, q8 and q15 all "
              f"run at this level")
    if args.model is not None:
        model = load(args.model, verify_checksum=not args.no_verify)
        print(model.summary())
    return 0


def cmd_export_c(args: argparse.Namespace) -> int:
    from .export_c import export_c

    paths = export_c(args.model, args.output, args.symbol)
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0


def _load_input(path: Path, tokens: bool = False) -> np.ndarray:
    """The input .npy: (T, I) or (N, T, I) real numbers; with tokens (a model whose first layer
    is an Embedding), also integer token ids (T,) or (N, T)."""
    from .importers._untrusted import read_npy_file

    try:
        xs = read_npy_file(path, ".npy input file")
    except ConversionError as e:  # not a .npy array, object arrays (need pickle), truncated
        raise UsageError(f"cannot read {path} as a plain .npy array ({e})") from None
    if xs.dtype.kind not in "iuf":
        raise UsageError(f"{path}: dtype {xs.dtype} is not a real number type")
    if tokens and xs.dtype.kind in "iu":
        if xs.ndim not in (1, 2):
            raise UsageError(f"{path}: token ids of shape {xs.shape}; expected (T,) or (N, T)")
        return xs
    if xs.ndim not in (2, 3):
        raise UsageError(f"{path}: shape {xs.shape} must be (T, I) or (N, T, I)"
                         + (", or integer token ids (T,) or (N, T)" if tokens else ""))
    return xs


def _load_verify_input(path: Path) -> np.ndarray:
    """The --verify-input sequence as read (its dtype, shape and values are checked by
    gru_rt.verify, which knows the model's input size)."""
    from .importers._untrusted import read_npy_file

    try:
        return read_npy_file(path, "--verify-input .npy file")
    except ConversionError as e:
        raise UsageError(f"--verify-input: cannot read {path} as a plain .npy array ({e})") \
            from None


def _load_sequences(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a .npz archive (np.savez) of real numbers, in archive order: sequences
    (_check_sequences), or one array per named input (_named_input_arrays)."""
    from .importers._untrusted import read_npz_file

    try:
        seqs = read_npz_file(path, ".npz input file")
    except ConversionError as e:
        raise UsageError(f"cannot read {path} as a .npz archive of plain arrays ({e})") from None
    for name, x in seqs.items():
        if x.dtype.kind not in "iuf":
            raise UsageError(f"{path}: {name}: dtype {x.dtype} is not a real number type")
    return seqs


def _check_sequences(seqs: dict[str, np.ndarray], path: Path, input_size: int) -> None:
    for name, x in seqs.items():
        if x.ndim != 2 or x.shape[1] != input_size:
            raise UsageError(f"{path}: {name}: shape {x.shape}, expected (T, {input_size}) for "
                             f"this model")


def _named_input_arrays(model: Model, arrays: dict[str, np.ndarray]) -> bool:
    """Does the archive hold the model's named inputs (one array per input name)? Some names but
    not all is a UsageError naming the difference."""
    names = [i.name for i in model.inputs]
    if not names or not set(arrays) & set(names):
        return False
    missing = [n for n in names if n not in arrays]
    extra = [n for n in arrays if n not in names]
    if missing or extra:
        raise UsageError(f"the archive holds {', '.join(arrays)}; the model's inputs are "
                         f"{', '.join(names)}"
                         + (f" (missing: {', '.join(missing)})" if missing else "")
                         + (f" (not an input: {', '.join(extra)})" if extra else ""))
    return True


def _run_named(model: Model, arrays: dict[str, np.ndarray], inp: Path, out: Path) -> int:
    """gru-rt run of a .npz holding one (T, w) or (N, T, w) array per named input: the outputs
    (T, O) or (N, T, O) in a .npy."""
    from .fileio import write_atomic

    if out.suffix != ".npy":
        raise UsageError(f"output {out}: the outputs of named inputs are one array; name it "
                         f"*.npy")
    try:
        ys = model.run(arrays)
    except ValueError as e:
        raise UsageError(f"{inp}: {e}") from None
    buf = io.BytesIO()
    np.save(buf, ys)
    write_atomic(out, buf.getvalue())
    print(f"wrote {out}: outputs {ys.shape} float32 (inputs {', '.join(arrays)})")
    return 0


def _load_lengths(path: Path) -> np.ndarray:
    from .importers._untrusted import read_npy_file

    try:
        lengths = read_npy_file(path, ".npy lengths file")
    except ConversionError as e:
        raise UsageError(f"cannot read {path} as a plain .npy array ({e})") from None
    if lengths.dtype.kind not in "iu" or lengths.ndim != 1:
        raise UsageError(f"{path}: dtype {lengths.dtype} shape {lengths.shape}, expected a 1-D "
                         f"array of integers (one length per sequence)")
    return lengths


def _run_sequences(model: Model, inp: Path, out: Path) -> int:
    """gru-rt run of a .npz of sequences: a .npz of their outputs under the same names; or of a
    .npz of the model's named inputs: a .npy of the outputs (_run_named)."""
    from .fileio import write_atomic

    seqs = _load_sequences(inp)
    if _named_input_arrays(model, seqs):
        return _run_named(model, seqs, inp, out)
    if out.suffix != ".npz":
        raise UsageError(f"output {out}: the outputs of a .npz of sequences are a .npz; name it "
                         f"*.npz")
    _check_sequences(seqs, inp, model.input_size)
    ys = model.run(list(seqs.values()))
    buf = io.BytesIO()
    np.savez(buf, **dict(zip(seqs, ys)))
    write_atomic(out, buf.getvalue())
    print(f"wrote {out}: {len(ys)} output sequences (T_k, {model.output_size}) float32")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from . import load
    from .fileio import write_atomic

    model = load(args.model)
    inp, out = Path(args.input), Path(args.output)
    if _same_file(inp, out) or _same_file(Path(args.model), out):
        raise UsageError(f"output {out} is one of the input files; choose another output path")
    if inp.suffix == ".npz":
        if args.lengths is not None:
            raise UsageError("--lengths goes with a padded (N, T, I) .npy input; the sequences "
                             "of a .npz have their own lengths")
        return _run_sequences(model, inp, out)
    xs = _load_input(inp, tokens=model.vocab_size > 0)
    ids = model.vocab_size > 0 and xs.dtype.kind in "iu"  # token ids: no feature axis (1.5)
    if not ids and xs.shape[-1] != model.input_size:
        expected = f"(T, {model.input_size}) or (N, T, {model.input_size})"
        raise UsageError(f"{inp}: shape {xs.shape}, expected {expected} for this model")
    lengths = None
    if args.lengths is not None:
        if xs.ndim != (2 if ids else 3):
            raise UsageError(f"--lengths goes with a padded (N, T, I) input (token ids: (N, T)); "
                             f"{inp} has shape {xs.shape}")
        lengths = _load_lengths(Path(args.lengths))
    ys = model.run(xs, lengths=lengths)
    buf = io.BytesIO()
    np.save(buf, ys)
    write_atomic(out, buf.getvalue())
    print(f"wrote {out}: outputs {ys.shape} float32")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from .dask import score_parquet

    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers is {args.workers}, expected 1 or more")
    features = [c.strip() for c in args.features.split(",")] if args.features else None
    out = score_parquet(args.model, args.data, args.output, id=args.id, time=args.time,
                        features=features, readout=args.readout, scheduler=args.scheduler,
                        workers=args.workers, progress=sys.stderr.isatty())
    print(f"wrote {out}: readout {args.readout}, {len(list(out.glob('*.parquet')))} Parquet parts")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gru-rt", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"gru_rt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("convert", help="convert trained weights (.pt/.pth, .safetensors, .npz, "
                                       ".keras, .h5, .onnx) to .grt")
    p.add_argument("source", help="a PyTorch state dict (.pt/.pth or .safetensors), a NumPy "
                                  "archive (.npz), a Keras model (.keras, .h5; a weights-only "
                                  ".h5 with --architecture) or an ONNX model (.onnx)")
    p.add_argument("-o", "--output", required=True, help="the .grt file to write")
    p.add_argument("--head-activation", metavar="NAME",
                   help="activation of the last Dense layer: linear, relu, tanh, sigmoid, softmax")
    p.add_argument("--activation", action="append", default=[], metavar="LAYER=NAME",
                   help="activation of a Dense layer by module prefix (torch), index (npz) or "
                        "layer name (Keras); "
                        "repeatable")
    p.add_argument("--convention", metavar="SPEC",
                   help="for .npz: the GRU convention, e.g. 'gate_order=zrn,layout=in_out,"
                        "update=z_takes_candidate,reset=before' (see docs/CONVENTIONS.md)")
    p.add_argument("--architecture", metavar="JSON",
                   help="for a Keras weights-only .h5 (model.save_weights): the model.to_json() "
                        "file")
    p.add_argument("--layers", metavar="A,B,…",
                   help="for .safetensors: the module prefixes in layer order, when the sizes "
                        "do not determine it")
    p.add_argument("--causal", action="append", default=[], metavar="PREFIX=DILATION",
                   help="for a PyTorch state dict: an nn.Conv1d (by module prefix) that is causal "
                        "(left zero padding of (kernel_size - 1)·dilation, stride 1) with its "
                        "dilation, which a state dict does not record; repeatable")
    p.add_argument("--layernorm-eps", type=float, metavar="EPS",
                   help="for a PyTorch state dict: the eps of its nn.LayerNorm layers, which a "
                        "state dict does not record (nn.LayerNorm's default is 1e-5)")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                   help="extra metadata stored in the file; repeatable")
    p.add_argument("--input", action="append", default=[], metavar="NAME=WIDTH",
                   help="a named input of the model's input vector, in order (repeat for each; "
                        "the widths sum to the input size); `gru-rt run` then takes a .npz with "
                        "one array per input name")
    p.add_argument("--precision", choices=PRECISION_NAMES, default="f32",
                   help="f32 (default); q8: int8 weights, float gates; q15: integer-only "
                        "(docs/QUANTIZATION.md)")
    p.add_argument("--weight-layout", choices=("auto", "row-major"), default="auto",
                   help="auto (default): f32 weight matrices in the panel8 layout where a layer "
                   "allows it (faster kernels); row-major: every layer row-major "
                   "(docs/FORMAT.md, 'Weight layouts')")
    p.add_argument("--calibration", metavar="X.npy",
                   help="q8/q15: your input sequences, (T, I) or (N, T, I): q15 takes its input "
                        "and output ranges from them, and the error report is measured on them "
                        "(default: inputs assumed standardized, a synthetic N(0, 1) set)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip the conversion check (an .onnx file run with onnxruntime against "
                        "the converted model; for weights, the dropped-activation warning)")
    p.add_argument("--verify-input", metavar="X.npy",
                   help="the input sequence (T, I) of the conversion check, e.g. real data "
                        "(default: 100 steps of N(0, 1)); for a source that can be run (.onnx)")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("info", help="describe a .grt model: layers, sizes, bytes, metadata; "
                                    "--cpu: the kernels this CPU runs")
    p.add_argument("model", nargs="?")
    p.add_argument("--no-verify", action="store_true", help="skip the checksum check")
    p.add_argument("--cpu", action="store_true", help="say which kernel level runs here")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("export-c", help="write a .grt model as C source (NAME.c, NAME.h) for "
                                        "flash, loaded by the same validating C loader")
    p.add_argument("model")
    p.add_argument("-o", "--output", required=True, metavar="NAME",
                   help="path without suffix: writes NAME.c and NAME.h")
    p.add_argument("--symbol", help="C name prefix (default: the last part of NAME)")
    p.set_defaults(func=cmd_export_c)

    p = sub.add_parser("run", help="run a model over sequences in a .npy or .npz file")
    p.add_argument("model")
    p.add_argument("input", help="float array (T, I) or (N, T, I) in a .npy file, or sequences "
                                 "of different lengths (T_k, I) in a .npz (np.savez); for a "
                                 "model with named inputs also a .npz with one (T, w) or "
                                 "(N, T, w) array per input name (outputs: a .npy); for a "
                                 "model whose first layer is an Embedding also integer token "
                                 "ids (T,) or (N, T) in a .npy")
    p.add_argument("-o", "--output", required=True,
                   help="file for the outputs, of the input's shapes: .npy (T, O) or (N, T, O), "
                        "or .npz of (T_k, O) under the input's names; each sequence starts "
                        "from a zero state")
    p.add_argument("--lengths", metavar="L.npy",
                   help="with a zero-padded (N, T, I) input: each sequence's length (N integers);"
                        " the padding is never run, and outputs past each length are zero")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("score", help="score a long-format Parquet archive (one row per time step) "
                                     "on Dask: needs gru_rt[dask] (docs/SCALE.md)")
    p.add_argument("model")
    p.add_argument("data", help="Parquet file, directory or glob: id, time stamp, features")
    p.add_argument("-o", "--output", required=True,
                   help="Parquet directory for the scores, written all or nothing")
    p.add_argument("--id", required=True, help="the sequence id column")
    p.add_argument("--time", required=True,
                   help="the time stamp column (increasing along each id's rows)")
    p.add_argument("--features", metavar="A,B,…",
                   help="feature columns in model input order (default: all other columns)")
    p.add_argument("--readout", choices=("last", "all"), default="last",
                   help="last (default): one row per sequence, its last output; all: every step")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler, tcp://host:8786")
    where.add_argument("--workers", type=int, metavar="N",
                       help="worker processes of a local cluster (default: one per CPU)")
    p.set_defaults(func=cmd_score)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (GruRtError, OSError) as e:  # user errors (errors.py); anything else is a bug
        print(f"gru-rt: error: {printable(e)}", file=sys.stderr)  # names from files
        return 1
