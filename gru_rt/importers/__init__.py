"""Importers: one module per source framework, each producing a canonical ModelSpec.

torch_importer imports PyTorch only when used; numpy_importer needs NumPy only.
"""

from __future__ import annotations

from .convention import PRESETS, Convention
from .numpy_importer import import_arrays, import_npz

__all__ = ["PRESETS", "Convention", "import_arrays", "import_npz"]
