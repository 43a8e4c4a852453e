"""Utilities: ``rustgrad.utils.data`` (datasets and the DataLoader) and hook handles."""

from . import data, hooks  # noqa: F401
