"""Helpers of the DataLoader, at PyTorch's home ``torch.utils.data._utils``."""

from . import collate, worker  # noqa: F401
