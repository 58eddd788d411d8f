"""Shared test setup: Keras runs on its PyTorch backend (TensorFlow is not needed)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")
