"""``rustgrad.utils.data``: datasets, samplers and the DataLoader, as ``torch.utils.data``.

The names live where PyTorch keeps them (``.dataset``, ``.sampler``, ``.dataloader``,
``.distributed``, ``._utils``) and are all importable from here.
"""

from . import _utils, dataloader, dataset, distributed, sampler  # noqa: F401
from ._utils.collate import default_collate, default_convert
from ._utils.worker import get_worker_info
from .dataloader import DataLoader
from .dataset import ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .distributed import DistributedSampler
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)

__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "ChainDataset", "Subset", "random_split",
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler",
    "DistributedSampler",
    "DataLoader", "default_collate", "default_convert", "get_worker_info",
]
