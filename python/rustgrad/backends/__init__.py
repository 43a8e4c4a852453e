"""``rustgrad.backends``: backend settings and queries, as ``torch.backends``."""

from . import cpu, cuda, cudnn, mkldnn, mps, openmp  # noqa: F401
