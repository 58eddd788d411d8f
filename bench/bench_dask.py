"""Scoring an archive on Dask (issue 19): gru_rt against torch.nn.GRU in the same Dask graph.

The archive: the JapaneseVowels demo data (640 real sequences, 7 … 29 steps of 12 features, the
demo model's normalization) replicated with N(0, 0.05²) noise to --sequences sequences, padded to 29
steps with their lengths, chunked along N and persisted on the workers before the clock starts.
Scoring: each sequence's output at its own last step (the demo classifier's readout), with
gru_rt.dask.score_array(lengths=) and with the same map_blocks graph running the trained
torch.nn.GRU (packed sequences, torch.set_num_threads(1)) per chunk. 1 and 2 worker processes of one
thread each; per-worker peak RSS (resource.getrusage), which includes the worker's share of the
persisted input.

    .venv/bin/python bench/bench_dask.py [--sequences 102400] [--chunk 4096] [--rounds 3]
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import gru_rt
import gru_rt.dask as grd

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "examples" / "models"
_torch_models: dict[str, Any] = {}


def archive(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x (n, 29, 12) float32 zero-padded, lengths (n,)): the demo sequences with noise."""
    sys.path.insert(0, str(ROOT / "examples"))
    from ts_datasets import load_ts_dataset

    norm = np.load(MODELS / "japanese_vowels_norm.npz")
    seqs = [(s - norm["mean"]) / norm["std"]
            for split in ("train", "test") for s in load_ts_dataset("JapaneseVowels", split)[0]]
    t_max = max(len(s) for s in seqs)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(seqs), n)
    lengths = np.array([len(seqs[k]) for k in pick])
    x = np.zeros((n, t_max, seqs[0].shape[1]), np.float32)
    for row, k in enumerate(pick):
        x[row, :lengths[row]] = seqs[k]
    x += rng.normal(0, 0.05, x.shape).astype(np.float32) * (np.arange(t_max) < lengths[:, None])[
        ..., None]
    return x, lengths


def torch_block(x: np.ndarray, lengths: np.ndarray, *, state_path: str) -> np.ndarray:
    """The torch side of the graph: one chunk through the trained nn.GRU + Linear, last steps."""
    import torch

    net = _torch_models.get(state_path)
    if net is None:
        torch.set_num_threads(1)
        state = torch.load(state_path)
        hidden, inputs = state["gru.weight_hh_l0"].shape[1], state["gru.weight_ih_l0"].shape[1]
        net = torch.nn.ModuleDict({"gru": torch.nn.GRU(inputs, hidden, batch_first=True),
                                   "fc": torch.nn.Linear(hidden, state["fc.weight"].shape[0])})
        net.load_state_dict(state)
        _torch_models[state_path] = net.eval()
    lens = torch.from_numpy(lengths.reshape(-1).astype(np.int64))
    with torch.inference_mode():
        packed = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x), lens,
                                                         batch_first=True, enforce_sorted=False)
        h_n = net["gru"](packed)[1][-1]  # (n, H): each sequence's state after its last step
        return net["fc"](h_n).numpy()


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(workers: int, x: np.ndarray, lengths: np.ndarray, chunk: int, rounds: int,
        model: gru_rt.Model) -> dict[str, dict[str, float]]:
    import bench_dask  # this file as a module, so that workers import torch_block (and its cache)
    import dask.array as da
    import distributed

    out: dict[str, dict[str, float]] = {}
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        dx = client.persist(da.from_array(x, chunks=(chunk, -1, -1)))
        dl = client.persist(da.from_array(lengths, chunks=chunk))
        distributed.wait([dx, dl])
        graphs = {
            "gru_rt": lambda: grd.score_array(model, dx, dl),
            "torch": lambda: da.map_blocks(
                bench_dask.torch_block, dx, dl[:, None, None],
                state_path=str(MODELS / "japanese_vowels_gru.pt"),
                chunks=(dx.chunks[0], (model.output_size,)), drop_axis=[1, 2], new_axis=[1],
                dtype=np.float32, meta=np.empty((0, 0), np.float32)),
        }
        results = {}
        for name, graph in graphs.items():
            results[name] = graph().compute()  # warm-up: models loaded on every worker
            best = float("inf")
            for _ in range(rounds):
                t0 = time.perf_counter()
                graph().compute()
                best = min(best, time.perf_counter() - t0)
            out[name] = {"seconds": best, "seq_per_s": len(x) / best}
        rss = client.run(bench_dask.peak_rss_mib)
        out["rss"] = {"max_worker_peak_mib": max(rss.values())}
        diff = np.abs(results["gru_rt"] - results["torch"]).max()
        out["rss"]["max_abs_diff_vs_torch"] = float(diff)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=102_400)
    parser.add_argument("--chunk", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model = gru_rt.convert(MODELS / "japanese_vowels_gru.pt", verify=False).load()
    x, lengths = archive(args.sequences)
    print(f"{platform.processor() or platform.machine()}, {platform.python_version()}; "
          f"{len(x)} sequences, {int(lengths.sum())} steps (mean length {lengths.mean():.1f}), "
          f"chunks of {args.chunk}, best of {args.rounds}; kernels: {gru_rt.cpu_info()['isa']}")
    rows = {w: run(w, x, lengths, args.chunk, args.rounds, model) for w in (1, 2)}
    print("| workers | gru_rt seq/s | torch seq/s | gru_rt / torch | gru_rt scaling "
          "| torch scaling | peak RSS per worker (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for w, r in rows.items():
        scale = {k: r[k]["seq_per_s"] / (w * rows[1][k]["seq_per_s"]) for k in ("gru_rt", "torch")}
        print(f"| {w} | {r['gru_rt']['seq_per_s']:,.0f} | {r['torch']['seq_per_s']:,.0f} | "
              f"{r['gru_rt']['seq_per_s'] / r['torch']['seq_per_s']:.2f}× | "
              f"{scale['gru_rt']:.0%} | {scale['torch']:.0%} | "
              f"{r['rss']['max_worker_peak_mib']:.0f} |")
    print(f"max |gru_rt - torch| over the outputs: "
          f"{max(r['rss']['max_abs_diff_vs_torch'] for r in rows.values()):.2e}")


if __name__ == "__main__":
    main()
