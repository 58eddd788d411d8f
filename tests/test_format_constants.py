"""gru_rt/format.py against the C header: every code, limit and version the Python side
states is the value the C loader uses (csrc/include/gru_rt.h), read from the header's text so that
a change on either side alone fails here; and the writer refuses what the loader would refuse, so
nothing writes that cannot load (the metadata count was the case that did)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from gru_rt import format as fmt
from gru_rt.spec import DenseLayer, ModelSpec, SpecError

HEADER = Path(__file__).resolve().parent.parent / "csrc" / "include" / "gru_rt.h"


def c_constants() -> tuple[dict[str, int], dict[str, int]]:
    """The header's `#define GRT_NAME <integer>` macros and `GRT_NAME = <integer>` enumerators."""
    text = re.sub(r"/\*.*?\*/", "", HEADER.read_text(), flags=re.S)
    macros = {name: int(value)
              for name, value in re.findall(r"#define\s+(GRT_\w+)\s+(\d+)u?\b", text)}
    enumerators = {name: int(value)
                   for name, value in re.findall(r"\b(GRT_\w+)\s*=\s*(\d+)", text)}
    return macros, enumerators


C, ENUMS = c_constants()


def c_enum(prefix: str) -> dict[str, int]:
    """The enumerators GRT_<prefix>_<NAME> as {name: value}, lower case, without count/max
    sentinels."""
    return {k[len(prefix):].lower(): v for k, v in ENUMS.items()
            if k.startswith(prefix) and not k.endswith(("_COUNT", "_MAX"))}


def test_versions_and_sizes_agree() -> None:
    assert C["GRT_VERSION_MAJOR"] == fmt.VERSION_MAJOR
    assert C["GRT_VERSION_MINOR"] == fmt.VERSION_MINOR
    assert C["GRT_HEADER_SIZE"] == fmt.HEADER_SIZE
    assert C["GRT_LAYER_ENTRY_SIZE"] == fmt.LAYER_ENTRY_SIZE
    assert C["GRT_TENSOR_ENTRY_SIZE"] == fmt.TENSOR_ENTRY_SIZE
    assert C["GRT_ALIGN"] == fmt.ALIGN
    assert C["GRT_FILE_INPUT_MASK"] == fmt.FLAG_INPUT_MASK
    assert C["GRT_FILE_NAMED_INPUTS"] == fmt.FLAG_NAMED_INPUTS
    assert C["GRT_MAX_INPUTS"] == fmt.MAX_INPUTS
    assert C["GRT_MAX_INPUT_NAME"] == fmt.MAX_INPUT_NAME


def test_limits_agree() -> None:
    assert C["GRT_MAX_LAYERS"] == fmt.MAX_LAYERS
    assert C["GRT_MAX_TENSORS"] == fmt.MAX_TENSORS
    assert C["GRT_MAX_DIM"] == fmt.MAX_DIM
    assert C["GRT_MAX_META_ENTRIES"] == fmt.MAX_META_ENTRIES
    assert C["GRT_MAX_META_KEY"] == fmt.MAX_KEY_BYTES
    assert C["GRT_MAX_META_VALUE"] == fmt.MAX_VALUE_BYTES
    assert C["GRT_MAX_CONV_WINDOW"] == fmt.MAX_CONV_WINDOW
    assert C["GRT_MAX_VOCAB"] == fmt.MAX_VOCAB
    assert C["GRT_MAX_VOCAB_Q15"] == fmt.MAX_VOCAB_Q15


def test_codes_agree() -> None:
    assert c_enum("GRT_LAYER_") == {"gru": fmt.KIND_GRU, "dense": fmt.KIND_DENSE,
                                    "lstm": fmt.KIND_LSTM, "norm": fmt.KIND_LAYERNORM,
                                    "conv1d": fmt.KIND_CONV1D, "embedding": fmt.KIND_EMBEDDING}
    assert c_enum("GRT_PREC_") == fmt.PRECISIONS
    assert c_enum("GRT_ACT_") == fmt.ACTIVATIONS
    assert c_enum("GRT_ROLE_") == fmt.ROLES
    assert {name: code for name, (code, _) in fmt.DTYPES.items()} == c_enum("GRT_DTYPE_")
    assert {name.replace("-", "_"): code for name, code in fmt.WEIGHT_LAYOUTS.items()} == \
        c_enum("GRT_LAYOUT_")


def test_constants_were_found() -> None:
    """The parser above is not vacuous: it reads the enums it compares."""
    assert len(c_enum("GRT_ACT_")) >= 7 and len(c_enum("GRT_ROLE_")) >= 10


def tiny(metadata: dict[str, str]) -> ModelSpec:
    return ModelSpec([DenseLayer(w=np.ones((1, 1)), b=np.zeros(1))], metadata)


def test_writer_refuses_more_metadata_than_the_loader_reads() -> None:
    # The writer adds tool.name and tool.version: the user may give MAX_META_ENTRIES - 2.
    most = {f"k{i}": "" for i in range(fmt.MAX_META_ENTRIES - 2)}
    model = tiny(most).load()
    assert len(model.metadata) == fmt.MAX_META_ENTRIES
    with pytest.raises(SpecError, match=f"at most {fmt.MAX_META_ENTRIES}"):
        tiny({**most, "one": "", "two": ""}).to_bytes()
    with pytest.raises(SpecError, match="metadata has 5000 entries"):
        tiny({f"k{i}": "" for i in range(5000)}).validated()
