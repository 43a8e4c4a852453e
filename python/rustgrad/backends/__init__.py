"""``rustgrad.backends``: backend settings, as ``torch.backends``."""

from . import cuda, cudnn  # noqa: F401
