"""Lazy imports of the frameworks: gru_rt's runtime needs NumPy only, so each importer loads its
framework when first used and says what to install when it is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import MissingDependencyError


def require(module: str, purpose: str, package: str | None = None) -> ModuleType:
    """Import `module`, or raise MissingDependencyError (an ImportError): "<purpose> needs
    <module>: pip install <package>"."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(f"{purpose} needs {module}: pip install "
                                     f"{package or module}") from e
