"""``rustgrad.cpu.amp``: the deprecated CPU spellings of ``rustgrad.amp``, as ``torch.cpu.amp``."""

from .autocast_mode import autocast
from .grad_scaler import GradScaler

__all__ = ["autocast", "GradScaler"]
