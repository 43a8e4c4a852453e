"""Utilities: ``rustgrad.utils.data`` (datasets and the DataLoader), ``rustgrad.utils.checkpoint``
(activation checkpointing), ``rustgrad.utils.dlpack`` and hook handles."""

from . import checkpoint, data, dlpack, hooks  # noqa: F401
