"""rustgrad.utils.data as a package: the names at PyTorch's homes, and DistributedSampler's index
arithmetic against PyTorch's."""

import importlib

import pytest

import rustgrad
from rustgrad.utils import data

HOMES = {
    "dataloader": ["DataLoader", "default_collate", "default_convert", "get_worker_info"],
    "dataset": ["Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "ChainDataset", "Subset",
                "random_split"],
    "sampler": ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
                "BatchSampler"],
    "distributed": ["DistributedSampler"],
    "_utils.collate": ["default_collate", "default_convert"],
    "_utils.worker": ["get_worker_info"],
}


@pytest.mark.parametrize("module", sorted(HOMES))
def test_names_live_at_pytorchs_homes_and_in_the_package(module):
    mod = importlib.import_module(f"rustgrad.utils.data.{module}")
    for name in HOMES[module]:
        assert getattr(mod, name) is getattr(data, name), (module, name)


def test_from_imports_of_training_scripts():
    from rustgrad.utils.data.dataloader import DataLoader
    from rustgrad.utils.data.dataset import Dataset
    from rustgrad.utils.data.sampler import Sampler

    assert DataLoader is data.DataLoader and Dataset is data.Dataset and Sampler is data.Sampler
    for name in data.__all__:
        assert hasattr(data, name), name


def test_names_match_pytorch():
    pytest.importorskip("torch")
    import torch.utils.data as tdata

    for name in data.__all__:
        assert hasattr(tdata, name), name
    for module, names in HOMES.items():
        tmod = importlib.import_module(f"torch.utils.data.{module}")
        for name in names:
            assert hasattr(tmod, name), (module, name)


CASES = [(n, r, drop) for n in (0, 1, 5, 7, 10, 12) for r in (1, 2, 3, 4, 8) for drop in (False, True)]


@pytest.mark.parametrize("length,replicas,drop_last", CASES)
def test_distributed_sampler_unshuffled_matches_pytorch(length, replicas, drop_last):
    torch = pytest.importorskip("torch")
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    dataset = list(range(length))
    for rank in range(replicas):
        ours = data.DistributedSampler(dataset, num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        theirs = TorchSampler(dataset, num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs)
        assert (ours.num_samples, ours.total_size) == (theirs.num_samples, theirs.total_size)


@pytest.mark.parametrize("length,replicas,drop_last", [(10, 3, False), (10, 3, True), (2, 5, False), (16, 4, False)])
def test_distributed_sampler_shuffle_partitions_one_permutation(length, replicas, drop_last):
    def shards(epoch, seed=0):
        out = []
        for rank in range(replicas):
            sampler = data.DistributedSampler(range(length), num_replicas=replicas, rank=rank, seed=seed,
                                              drop_last=drop_last)
            sampler.set_epoch(epoch)
            out.append(list(sampler))
        return out

    epoch0 = shards(0)
    assert epoch0 == shards(0), "the order is a function of seed + epoch only"
    assert all(len(s) == len(epoch0[0]) for s in epoch0)
    # Interleaving the shards rebuilds the padded (or cut) permutation.
    merged = [s[i] for i in range(len(epoch0[0])) for s in epoch0]
    if drop_last:
        assert len(set(merged)) == len(merged) == (length // replicas) * replicas
    else:
        assert set(merged) == set(range(length))
        assert len(merged) == -(-length // replicas) * replicas
    if length > 3:
        assert shards(1) != epoch0, "set_epoch changes the order"
        assert shards(0, seed=5) != epoch0, "seed changes the order"


def test_distributed_sampler_in_a_dataloader():
    dataset = data.TensorDataset(rustgrad.arange(10))
    sampler = data.DistributedSampler(dataset, num_replicas=2, rank=1, shuffle=False)
    batches = [b[0].tolist() for b in data.DataLoader(dataset, batch_size=2, sampler=sampler)]
    assert batches == [[1, 3], [5, 7], [9]]


def test_distributed_sampler_errors_as_pytorch():
    pytest.importorskip("torch")
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    for kwargs in ({"num_replicas": 2, "rank": 2}, {"num_replicas": 2, "rank": -1}):
        with pytest.raises(ValueError) as theirs:
            TorchSampler(range(4), **kwargs)
        with pytest.raises(ValueError) as ours:
            data.DistributedSampler(range(4), **kwargs)
        assert str(ours.value) == str(theirs.value)
    # No process group: the rank and world size cannot be looked up.
    with pytest.raises(ValueError) as theirs:
        TorchSampler(range(4))
    with pytest.raises(ValueError) as ours:
        data.DistributedSampler(range(4))
    assert str(ours.value) == str(theirs.value)
    assert "Default process group has not been initialized" in str(ours.value)


def test_pin_memory_without_a_gpu_warns_as_pytorch():
    loader = data.DataLoader(list(range(3)), pin_memory=True)
    if rustgrad.cuda.is_available():
        assert [b.tolist() for b in loader] == [[0], [1], [2]]
        return
    with pytest.warns(UserWarning, match="'pin_memory' argument is set as true but no accelerator is found"):
        assert [b.tolist() for b in loader] == [[0], [1], [2]]


def test_weighted_random_sampler_draws_by_weight():
    sampler = data.WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 8000)
    draws = list(sampler)
    assert len(draws) == len(sampler) == 8000
    counts = [draws.count(i) for i in range(4)]
    assert counts[0] == counts[2] == 0
    assert abs(counts[3] / 8000 - 0.75) < 0.03
    without = list(data.WeightedRandomSampler([1.0, 0.0, 2.0, 5.0], 3, replacement=False))
    assert sorted(without) == [0, 2, 3]


def test_weighted_random_sampler_generator_is_reproducible():
    def draws(seed):
        generator = rustgrad.Generator()
        generator.manual_seed(seed)
        return list(data.WeightedRandomSampler([1.0, 2.0, 3.0], 50, generator=generator))

    assert draws(3) == draws(3)
    assert draws(3) != draws(4)
    loader = data.DataLoader(data.TensorDataset(rustgrad.arange(3)), batch_size=5,
                             sampler=data.WeightedRandomSampler([0.0, 0.0, 1.0], 10))
    assert [b[0].tolist() for b in loader] == [[2] * 5, [2] * 5]


@pytest.mark.parametrize("args,kwargs", [
    (([0.1, 0.9], 0), {}), (([0.1, 0.9], True), {}), (([[0.1, 0.9]], 2), {}), (([0.1, 0.9], 2), {"replacement": 1}),
])
def test_weighted_random_sampler_errors_as_pytorch(args, kwargs):
    pytest.importorskip("torch")
    from torch.utils.data import WeightedRandomSampler as TorchSampler

    with pytest.raises(ValueError) as theirs:
        TorchSampler(*args, **kwargs)
    with pytest.raises(ValueError) as ours:
        data.WeightedRandomSampler(*args, **kwargs)
    assert str(ours.value) == str(theirs.value)
