"""``rustgrad.nn.parallel``: ``DataParallel`` and ``DistributedDataParallel``, as ``torch.nn.parallel``."""

from ..modules.data_parallel import DataParallel
from .distributed import DistributedDataParallel

__all__ = ["DataParallel", "DistributedDataParallel"]
