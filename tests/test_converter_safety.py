"""The converter never runs code from a model file; a failed conversion leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from gru_rt.cli import main
from gru_rt.errors import ConversionError

torch = pytest.importorskip("torch")


class Payload:
    """A pickle that, if unpickled, would create a file: the classic model-file attack."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_torch_file_with_code_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"fc.weight": torch.zeros(2, 2), "x": Payload(marker)}, evil)
    with pytest.raises(ConversionError):
        from gru_rt import convert

        convert(evil)
    assert not marker.exists()
    assert main(["convert", str(evil), "-o", str(tmp_path / "out.grt")]) == 1
    assert not marker.exists() and not (tmp_path / "out.grt").exists()


def test_npz_with_pickled_object_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.npz"
    np.savez(evil, **{"0.W": np.array([Payload(marker)], dtype=object)})
    assert main(["convert", str(evil), "-o", str(tmp_path / "out.grt")]) == 1
    assert not marker.exists() and not (tmp_path / "out.grt").exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs a non-root POSIX user for directory permissions")
def test_unwritable_output_directory_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    np.savez(tmp_path / "w.npz", **{"0.W": np.ones((2, 2), np.float32)})
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(["convert", str(tmp_path / "w.npz"), "-o", str(locked / "m.grt")]) == 1
        assert "Permission denied" in capsys.readouterr().err
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_missing_input_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    assert main(["convert", str(tmp_path / "nope.pt"), "-o", str(tmp_path / "m.grt")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.pt" in err
    assert not (tmp_path / "m.grt").exists()
