#!/usr/bin/env python3
"""Train and convert the multimodal example: BasicMotions accelerometer and gyroscope as two inputs.

UEA BasicMotions (the copy in the aeon wheel, read by examples/ts_datasets.py): 6 channels per step,
channels 0-2 the wrist accelerometer (x, y, z) and 3-5 the gyroscope (x, y, z), 100 steps, 4
activities, 40 train / 40 test sequences. The model is a PyTorch module with two inputs,

    forward(acc, gyro) = Linear(GRU(torch.cat([acc, gyro], -1)))      acc, gyro: (B, T, 3)

trained on the normalized channels with tools/train_demo.py's loop and settings for BasicMotions
(the fused module is that model's GRU and Linear over the joined inputs, so the same loop trains
it), read out as the runtime streams: argmax of the output at the last step, from a zero state.

It is then converted with gru_rt.convert(module, inputs={"acc": 3, "gyro": 3}) (the conversion check
runs module(acc, gyro)) in f32, q8 and q15 (calibrated on the train split, whose ranges q15 takes
per input feature), and every precision is measured on the test split fed as {"acc": ...,
"gyro": ...}: accuracy, agreement with the f32 model, bit-exactness of q8/q15 with the golden
model, and Stream.step of the dict equal to Model.run. Writes examples/models/
basic_motions_fusion.pt (state dict) and basic_motions_fusion.json (what was measured).

    PYTHONPATH=. python tools/train_fusion.py            # ~30 s on 2 cores
"""

from __future__ import annotations

import datetime
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import gru_rt
from gru_rt.golden import golden_run

sys.path.insert(0, str(Path(__file__).resolve().parent))  # train_demo, _training
from _training import normalization, normalize  # noqa: E402
from train_demo import CONFIGS, train  # noqa: E402
from ts_datasets import load_ts_dataset  # noqa: E402 (examples/, added by train_demo)

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "examples" / "models"
INPUTS = {"acc": 3, "gyro": 3}  # BasicMotions channels 0-2 and 3-5


class FusedGRU(nn.Module):
    """Two inputs joined on the feature axis, then nn.GRU (batch_first) and nn.Linear."""

    def __init__(self, gru: nn.GRU, fc: nn.Linear):
        super().__init__()
        self.gru, self.fc = gru, fc

    def forward(self, acc: torch.Tensor, gyro: torch.Tensor) -> torch.Tensor:
        """(B, T, 3) and (B, T, 3) → (B, T, classes): the output after every step."""
        return self.fc(self.gru(torch.cat([acc, gyro], dim=-1))[0])


def split(x: np.ndarray) -> dict[str, np.ndarray]:
    """(…, 6) frames as the two named inputs."""
    return {"acc": np.ascontiguousarray(x[..., :3]), "gyro": np.ascontiguousarray(x[..., 3:])}


def measure(model: gru_rt.Model, spec: gru_rt.ModelSpec, test: np.ndarray, labels: np.ndarray,
            reference: np.ndarray | None) -> dict[str, Any]:
    """Accuracy on the test split fed as named inputs; agreement with the f32 predictions;
    q8/q15: bit-exactness with the golden model; the stream of one sequence equal to run."""
    last = model.run(split(test), readout="last")
    pred = np.argmax(last, axis=1)
    row: dict[str, Any] = {"accuracy": float(np.mean(pred == labels)),
                           "correct": int(np.sum(pred == labels)), "file_bytes": model.nbytes}
    if reference is not None:
        row["agreement_with_f32"] = float(np.mean(pred == reference))
    if spec.layers[0].precision != "f32":
        golden = golden_run(spec, test).outputs
        row["bit_exact_vs_golden"] = bool(np.array_equal(model.run(split(test)), golden))
    stream = model.stream()
    steps = np.stack([stream.step(frame) for frame in
                      ({"acc": a, "gyro": g} for a, g in zip(*split(test[0]).values()))])
    row["stream_equals_run"] = bool(np.array_equal(steps, model.run(split(test[0]))))
    return row


def main() -> int:
    cfg = CONFIGS["basic_motions"]
    train_x, train_y, classes = load_ts_dataset(cfg.dataset, "train")
    test_x, test_y, test_classes = load_ts_dataset(cfg.dataset, "test")
    if test_classes != classes:
        raise SystemExit("train and test declare different classes")
    mean, std = normalization(train_x)
    norm_train, norm_test = normalize(train_x, mean, std), normalize(test_x, mean, std)
    start = time.perf_counter()
    trained = train(cfg, norm_train, train_y, len(classes))
    seconds = time.perf_counter() - start
    net = FusedGRU(trained.gru, trained.fc).eval()

    test = np.stack(norm_test)  # every BasicMotions sequence has 100 steps
    calibration = np.stack(norm_train)  # (N, T, 6): the inputs in the model's order
    with torch.no_grad():
        t = {k: torch.from_numpy(v) for k, v in split(test).items()}
        torch_pred = net(t["acc"], t["gyro"])[:, -1].argmax(dim=1).numpy()
    spec = gru_rt.convert(net, inputs=INPUTS, head_activation="softmax")
    results: dict[str, Any] = {"torch_accuracy": float(np.mean(torch_pred == test_y)),
                               "source_verified": spec.metadata["source.verified"]}
    f32_pred = None
    for precision in ("f32", "q8", "q15"):
        q = spec if precision == "f32" else gru_rt.convert(
            net, inputs=INPUTS, head_activation="softmax", precision=precision,
            calibration=calibration)
        model = q.load()
        results[precision] = measure(model, q, test, test_y, f32_pred)
        if precision == "f32":
            f32_pred = np.argmax(model.run(split(test), readout="last"), axis=1)
        if precision == "q15":
            scale = model.input_scale
            assert scale is not None
            results["q15_input_range"] = {
                i.name: [round(float(v) * 32767, 3) for v in scale[i.offset:i.offset + i.width]]
                for i in model.inputs}
    MODELS.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().clone().contiguous() for k, v in net.state_dict().items()},
               MODELS / "basic_motions_fusion.pt")
    np.savez(MODELS / "basic_motions_fusion_norm.npz", mean=mean, std=std,
             class_names=np.array(classes, dtype=np.str_))
    record = {
        "dataset": f"{cfg.dataset} (aeon wheel), channels 0-2 acc, 3-5 gyro",
        "inputs": INPUTS, "architecture": "cat(acc, gyro) -> GRU(24) -> Linear(4)",
        "training": {"settings": f"tools/train_demo.py CONFIGS['basic_motions'] (seed {cfg.seed})",
                     "seconds": round(seconds, 1)},
        "results": results,
        "versions": {"torch": torch.__version__, "numpy": np.__version__,
                     "gru_rt": gru_rt.__version__, "python": platform.python_version()},
        "kernels": gru_rt.cpu_info()["isa"],
        "date": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
        "command": "PYTHONPATH=. python tools/train_fusion.py",
    }
    (MODELS / "basic_motions_fusion.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    bad = [p for p in ("q8", "q15") if not results[p]["bit_exact_vs_golden"]]
    bad += [p for p in ("f32", "q8", "q15") if not results[p]["stream_equals_run"]]
    if bad:
        print(f"FAILED: {bad}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
