"""Utilities: ``rustgrad.utils.data`` (datasets and the DataLoader), ``rustgrad.utils.checkpoint``
(activation checkpointing) and hook handles."""

from . import checkpoint, data, hooks  # noqa: F401
