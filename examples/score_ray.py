"""Score a long-format Parquet archive with Ray Data (docs/SCALE.md, "The same on other engines").

    pip install 'ray[data]' gru_rt
    python examples/score_ray.py model.grt archive/ --id unit --time t --features a,b,c \
        -o scores.parquet

A group-by gathers each id's rows into one sequence; an actor class loads the model once per actor
and runs batches of whole sequences through Model.run's ragged form. tests/test_engines.py runs it
and compares with Model.run bit for bit (`make test-engines`).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import ray
from ray.data.context import DataContext, ShuffleStrategy

import gru_rt


def to_sequence(rows: pd.DataFrame, id: str, time: str, features: list[str]) -> pd.DataFrame:
    """One id's rows → one row: the id, the time of its last step, its steps flattened."""
    rows = rows.sort_values(time)  # Ray's group-by does not keep the archive's row order
    if rows[time].duplicated().any():
        raise ValueError(f"sequence {rows[id].iloc[0]!r}: a time stamp appears twice")
    x = rows[features].to_numpy(np.float32)
    return pd.DataFrame({id: rows[id].iloc[:1].to_numpy(), time: rows[time].iloc[-1:].to_numpy(),
                         "x": [x.ravel()]})


class Scorer:
    """One per actor: the model loaded once, then batches of sequences."""

    def __init__(self, blob: bytes, id: str, time: str):
        self.model, self.id, self.time = gru_rt.load(blob), id, time

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        width = self.model.input_size
        seqs = [np.asarray(x, np.float32).reshape(-1, width) for x in batch["x"]]
        ys = self.model.run(seqs, readout="last")  # (n, O): each sequence's last output
        out = batch[[self.id, self.time]].reset_index(drop=True)
        return out.join(pd.DataFrame(ys, columns=[f"y{j}" for j in range(ys.shape[1])]))


def score(model_path: str, archive: str, id: str, time: str, features: list[str],
          actors: int = 2) -> pd.DataFrame:
    """One row per sequence: id, time of its last step, y0 … y{O-1} (float32)."""
    blob = gru_rt.load(model_path).to_bytes()  # checked here, shipped once to each actor
    # the sort-based shuffle for the group-by: with the default hash shuffle (its aggregators are
    # actors holding CPUs) the reads never got a CPU on a 2-core machine, at 2 or 4 Ray CPUs
    DataContext.get_current().shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    seqs = ray.data.read_parquet(archive).groupby(id).map_groups(
        to_sequence, fn_args=(id, time, features), batch_format="pandas")
    scores = seqs.map_batches(Scorer, fn_constructor_args=(blob, id, time), batch_size=256,
                              batch_format="pandas",
                              compute=ray.data.ActorPoolStrategy(size=actors))
    return scores.to_pandas()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("archive")
    p.add_argument("--id", required=True)
    p.add_argument("--time", required=True)
    p.add_argument("--features", required=True, help="a,b,c in model input order")
    p.add_argument("-o", "--output", required=True, help="Parquet file")
    args = p.parse_args()
    ray.init()  # or ray.init("ray://head:10001") for a running cluster
    score(args.model, args.archive, args.id, args.time, args.features.split(",")) \
        .to_parquet(args.output, index=False)


if __name__ == "__main__":
    main()
