"""``rustgrad.utils.data.distributed``: ``DistributedSampler``, as ``torch.utils.data.distributed``.

The sampler is pure index arithmetic, so it works whenever ``num_replicas`` and ``rank`` are given.
Left to default, they come from the default process group, which rustgrad cannot create yet
(``rustgrad.distributed``): then it raises PyTorch's error for a missing process group.
"""

import math

from ... import _C
from .sampler import Sampler

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler):
    """Gives replica ``rank`` of ``num_replicas`` its share of the dataset's indices.

    Every replica sees the same (per-epoch, ``seed + epoch`` seeded) permutation when ``shuffle``,
    and takes every ``num_replicas``-th index from its ``rank`` on. The index list is first made
    divisible by ``num_replicas``: padded by repeating its start, or cut short when ``drop_last``.
    Call ``set_epoch`` before each epoch so that the shuffled order changes.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            from ... import distributed

            if num_replicas is None:
                num_replicas = distributed.get_world_size()
            if rank is None:
                rank = distributed.get_rank()
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        length = len(dataset)
        if drop_last and length % num_replicas != 0:
            # Every replica gets the same number of samples: the surplus is dropped.
            self.num_samples = math.ceil((length - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(length / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self):
        length = len(self.dataset)
        if self.shuffle:
            generator = _C.Generator()
            generator.manual_seed(self.seed + self.epoch)
            indices = _C.randperm(length, generator=generator).tolist()
        else:
            indices = list(range(length))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        assert len(indices) == self.total_size
        indices = indices[self.rank:self.total_size:self.num_replicas]
        assert len(indices) == self.num_samples
        return iter(indices)

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Sets the epoch, which (added to ``seed``) seeds the shuffled order."""
        self.epoch = epoch
