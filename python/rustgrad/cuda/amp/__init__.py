"""``rustgrad.cuda.amp``: the deprecated CUDA spellings of ``rustgrad.amp``, as ``torch.cuda.amp``."""

from .autocast_mode import autocast
from .grad_scaler import GradScaler

__all__ = ["autocast", "GradScaler"]
