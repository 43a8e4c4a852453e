"""``rustgrad.cpu``: the CPU device, as ``torch.cpu`` (here: its ``amp`` spellings)."""

from . import amp  # noqa: F401
