"""Score a long-format Parquet archive with Spark (docs/SCALE.md, "The same on other engines").

    pip install pyspark gru_rt        # and a Java 17+ runtime
    python examples/score_spark.py model.grt archive/ --id unit --time t --features a,b,c \
        -o scores.parquet

Spark gathers each id's rows into one row (its steps ordered by time stamp); the model's bytes go
to each executor once (a broadcast), mapInPandas loads them once per partition (microseconds) and
runs batches of whole sequences through Model.run's ragged form. tests/test_engines.py runs it
and compares with Model.run bit for bit (`make test-engines`).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

import gru_rt


def score(spark: SparkSession, model_path: str, archive: str, id: str, time: str,
          features: list[str]) -> DataFrame:
    """One row per sequence: id, time of its last step, y0 … y{O-1} (float)."""
    model = gru_rt.load(model_path)  # checked here, shipped once to each executor
    blob = spark.sparkContext.broadcast(model.to_bytes())
    width, outputs = model.input_size, [f"y{j}" for j in range(model.output_size)]

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        m = gru_rt.load(blob.value)
        for batch in batches:  # columns: id, steps (array<struct<t, x: array<float>>>)
            seqs = [np.array([step["x"] for step in steps], np.float32).reshape(-1, width)
                    for steps in batch["steps"]]
            ys = m.run(seqs, readout="last")  # (n, O): each sequence's last output
            out = pd.DataFrame({id: batch[id], time: [steps[-1]["t"] for steps in batch["steps"]]})
            yield out.join(pd.DataFrame(ys, columns=outputs))

    x = F.array(*(F.col(c).cast("float") for c in features))
    # sort_array orders each sequence's steps by time stamp (Spark's group-by does not keep the
    # archive's row order); a repeated time stamp is refused below
    seqs = (spark.read.parquet(archive).groupBy(id)
            .agg(F.sort_array(F.collect_list(F.struct(F.col(time).alias("t"), x.alias("x"))))
                 .alias("steps"),
                 (F.count("*") - F.countDistinct(time)).alias("repeats")))
    repeated = seqs.where("repeats > 0").select(id).first()
    if repeated is not None:
        raise ValueError(f"sequence {repeated[0]!r}: a time stamp appears twice")
    id_type = seqs.schema[id].dataType.simpleString()
    time_type = seqs.schema["steps"].dataType.elementType["t"].dataType.simpleString()
    schema = ", ".join([f"{id} {id_type}", f"{time} {time_type}", *(f"{y} float" for y in outputs)])
    return seqs.select(id, "steps").mapInPandas(run, schema=schema)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("archive")
    p.add_argument("--id", required=True)
    p.add_argument("--time", required=True)
    p.add_argument("--features", required=True, help="a,b,c in model input order")
    p.add_argument("-o", "--output", required=True, help="Parquet directory")
    args = p.parse_args()
    spark = SparkSession.builder.appName("gru_rt score").getOrCreate()  # or .master("spark://…")
    score(spark, args.model, args.archive, args.id, args.time, args.features.split(",")) \
        .write.parquet(args.output)


if __name__ == "__main__":
    main()
