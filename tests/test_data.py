"""rustgrad.utils.data: datasets, samplers, DataLoader batching, shuffling and default collation."""

import collections
import warnings

import numpy as np
import pytest

import rustgrad
from rustgrad.utils import data
from rustgrad.utils.data import (BatchSampler, DataLoader, Dataset, IterableDataset, RandomSampler,
                                 SequentialSampler, Subset, TensorDataset, default_collate, random_split)


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i >= self.n:
            raise IndexError(i)
        return i, i * i


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


def test_utils_exposes_data():
    import rustgrad.utils

    assert rustgrad.utils.data is data
    assert data.DataLoader is DataLoader


def test_dataset_base_and_concat():
    with pytest.raises(NotImplementedError, match="Subclasses of Dataset should implement __getitem__."):
        Dataset()[0]
    both = Squares(3) + Squares(2)
    assert len(both) == 5 and both[3] == (0, 0) and both[-1] == (1, 1) and both[2] == (2, 4)


def test_tensor_dataset():
    x = rustgrad.arange(12, dtype=rustgrad.float32).reshape(6, 2)
    y = rustgrad.arange(6)
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    xi, yi = ds[2]
    assert xi.tolist() == [4.0, 5.0] and yi.item() == 2
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(x, rustgrad.arange(5))


def test_subset_and_random_split():
    ds = Squares(10)
    sub = Subset(ds, [9, 3, 5])
    assert len(sub) == 3 and sub[0] == (9, 81) and sub[2] == (5, 25)
    a, b = random_split(ds, [7, 3], generator=rustgrad.Generator().manual_seed(0))
    assert len(a) == 7 and len(b) == 3
    assert sorted(a.indices + b.indices) == list(range(10))
    a2, b2 = random_split(ds, [7, 3], generator=rustgrad.Generator().manual_seed(0))
    assert a.indices == a2.indices and b.indices == b2.indices
    c, d, e = random_split(Squares(11), [0.5, 0.3, 0.2], generator=rustgrad.Generator().manual_seed(1))
    assert (len(c), len(d), len(e)) == (6, 3, 2)  # floor, then the remainder round-robin
    with pytest.raises(ValueError, match="Sum of input lengths does not equal the length of the input dataset!"):
        random_split(ds, [5, 4])
    rustgrad.manual_seed(3)
    g1 = random_split(ds, [5, 5])[0].indices
    rustgrad.manual_seed(3)
    g2 = random_split(ds, [5, 5], generator=rustgrad.default_generator)[0].indices
    assert g1 == g2  # the default is the global generator


def test_dataloader_batches_in_order():
    x = rustgrad.arange(10, dtype=rustgrad.float32).reshape(10, 1)
    y = rustgrad.arange(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    xb, yb = batches[0]
    assert isinstance(xb, rustgrad.Tensor) and tuple(xb.shape) == (4, 1) and xb.dtype == rustgrad.float32
    assert yb.tolist() == [0, 1, 2, 3] and yb.dtype == rustgrad.int64
    assert batches[2][1].tolist() == [8, 9]
    # A second pass gives the same batches.
    assert [b[1].tolist() for b in loader] == [b[1].tolist() for b in batches]


def test_dataloader_drop_last():
    loader = DataLoader(Squares(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    batches = list(loader)
    assert len(batches) == 2 and batches[-1][0].tolist() == [4, 5, 6, 7]
    assert len(DataLoader(Squares(8), batch_size=4, drop_last=True)) == 2


def test_dataloader_shuffle_reproducible_with_seeded_generator():
    def epochs(seed, n=2):
        loader = DataLoader(Squares(20), batch_size=5, shuffle=True, generator=rustgrad.Generator().manual_seed(seed))
        return [[i for b in loader for i in b[0].tolist()] for _ in range(n)]

    first, second = epochs(0)
    assert sorted(first) == list(range(20)) and sorted(second) == list(range(20))
    assert first != list(range(20))  # shuffled
    assert first != second  # a new order each epoch
    assert epochs(0) == [first, second]  # reproducible from the seed
    assert epochs(1)[0] != first


def test_dataloader_shuffle_without_generator_follows_manual_seed():
    def order():
        return [i for b in DataLoader(Squares(16), batch_size=4, shuffle=True) for i in b[0].tolist()]

    rustgrad.manual_seed(11)
    a = order()
    rustgrad.manual_seed(11)
    assert order() == a
    assert sorted(a) == list(range(16))


def test_dataloader_batch_size_none_and_custom_collate():
    loader = DataLoader(Squares(3), batch_size=None)
    assert list(loader) == [[0, 0], [1, 1], [2, 4]]  # default_convert: tuples become lists, no batching
    assert len(loader) == 3
    loader = DataLoader(Squares(5), batch_size=2, collate_fn=lambda batch: [b[1] for b in batch])
    assert list(loader) == [[0, 1], [4, 9], [16]]


def test_dataloader_sampler_and_batch_sampler():
    loader = DataLoader(Squares(6), batch_size=2, sampler=[5, 4, 3, 2, 1, 0])
    assert [b[0].tolist() for b in loader] == [[5, 4], [3, 2], [1, 0]]
    bs = [[0, 2], [4], [1, 3, 5]]
    loader = DataLoader(Squares(6), batch_sampler=bs)
    assert [b[0].tolist() for b in loader] == bs
    assert len(loader) == 3
    assert list(BatchSampler(SequentialSampler(range(5)), 2, False)) == [[0, 1], [2, 3], [4]]
    assert list(BatchSampler(SequentialSampler(range(5)), 2, True)) == [[0, 1], [2, 3]]
    assert len(BatchSampler(range(5), 2, False)) == 3 and len(BatchSampler(range(5), 2, True)) == 2
    r = list(RandomSampler(range(7), generator=rustgrad.Generator().manual_seed(0)))
    assert sorted(r) == list(range(7))
    rr = list(RandomSampler(range(3), replacement=True, num_samples=40, generator=rustgrad.Generator()))
    assert len(rr) == 40 and set(rr) <= {0, 1, 2}


def test_dataloader_argument_errors():
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(Squares(4), sampler=[0, 1], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive with batch_size, shuffle, "
                                         "sampler, and drop_last"):
        DataLoader(Squares(4), batch_size=2, batch_sampler=[[0]])
    with pytest.raises(ValueError, match="batch_size=None option disables auto-batching and is mutually exclusive "
                                         "with drop_last"):
        DataLoader(Squares(4), batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(Squares(4), num_workers=-1)
    with pytest.raises(ValueError, match="batch_size should be a positive integer value, but got batch_size=0"):
        DataLoader(Squares(4), batch_size=0)
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(Stream(3), shuffle=True)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        RandomSampler([])


def test_num_workers_runs_in_process_with_a_warning():
    with pytest.warns(UserWarning, match="loads data in the main process"):
        loader = DataLoader(Squares(4), batch_size=2, num_workers=2)
    assert [b[0].tolist() for b in loader] == [[0, 1], [2, 3]]
    assert data.get_worker_info() is None


def test_iterable_dataset_batches():
    loader = DataLoader(Stream(7), batch_size=3)
    assert [b.tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(loader) == 3
    loader = DataLoader(Stream(7), batch_size=3, drop_last=True)
    assert [b.tolist() for b in loader] == [[0, 1, 2], [3, 4, 5]] and len(loader) == 2
    assert list(DataLoader(Stream(2), batch_size=None)) == [0, 1]  # no batching: items as they are


# ----- collation of every supported type ----------------------------------------------------------

def test_collate_tensors_stack():
    out = default_collate([rustgrad.ones(2, 3), rustgrad.zeros(2, 3)])
    assert tuple(out.shape) == (2, 2, 3) and out[0].tolist() == [[1.0] * 3] * 2
    scalars = default_collate([rustgrad.tensor(1.5), rustgrad.tensor(2.5)])
    assert scalars.tolist() == [1.5, 2.5]
    d = default_collate([rustgrad.ones(2, dtype=rustgrad.float64)] * 3)
    assert d.dtype == rustgrad.float64


def test_collate_numpy_arrays_and_scalars():
    arrays = [np.full((2, 2), i, dtype=np.float32) for i in range(3)]
    out = default_collate(arrays)
    assert isinstance(out, rustgrad.Tensor) and out.dtype == rustgrad.float32 and tuple(out.shape) == (3, 2, 2)
    assert out[2].tolist() == [[2.0, 2.0], [2.0, 2.0]]
    assert default_collate([np.zeros(2, dtype=np.float64)] * 2).dtype == rustgrad.float64
    assert default_collate([np.zeros(2, dtype=np.int64)] * 2).dtype == rustgrad.int64
    assert default_collate([np.zeros(2, dtype=np.uint8)] * 2).dtype == rustgrad.int64  # rustgrad's int dtype
    assert default_collate([np.zeros(2, dtype=bool)] * 2).dtype == rustgrad.bool
    s = default_collate([np.float32(1.5), np.float32(2.0)])
    assert s.dtype == rustgrad.float32 and s.tolist() == [1.5, 2.0]
    s = default_collate([np.int64(3), np.int64(4)])
    assert s.dtype == rustgrad.int64 and s.tolist() == [3, 4]
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors, numpy arrays, numbers, "
                                        "dicts or lists; found"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_collate_python_numbers_use_pytorch_dtypes():
    f = default_collate([1.0, 2.5])
    assert f.dtype == rustgrad.float64 and f.tolist() == [1.0, 2.5]
    i = default_collate([1, 2, 3])
    assert i.dtype == rustgrad.int64 and i.tolist() == [1, 2, 3]
    b = default_collate([True, False])
    assert b.dtype == rustgrad.bool and b.tolist() == [True, False]
    assert default_collate(["a", "b"]) == ["a", "b"]


def test_collate_tuples_lists_dicts_namedtuples():
    samples = [(rustgrad.ones(2), 1), (rustgrad.zeros(2), 0)]
    out = default_collate(samples)
    assert isinstance(out, list) and len(out) == 2  # tuples collate to a list, as PyTorch
    assert tuple(out[0].shape) == (2, 2) and out[1].tolist() == [1, 0]
    lists = default_collate([[1, 2.0], [3, 4.0]])
    assert isinstance(lists, list) and lists[0].tolist() == [1, 3] and lists[1].dtype == rustgrad.float64
    dicts = default_collate([{"x": np.ones(3, dtype=np.float32), "y": 1, "name": "a"},
                             {"x": np.zeros(3, dtype=np.float32), "y": 2, "name": "b"}])
    assert set(dicts) == {"x", "y", "name"}
    assert tuple(dicts["x"].shape) == (2, 3) and dicts["y"].tolist() == [1, 2] and dicts["name"] == ["a", "b"]
    Point = collections.namedtuple("Point", ["x", "y"])
    nt = default_collate([Point(1.0, rustgrad.ones(1)), Point(2.0, rustgrad.zeros(1))])
    assert isinstance(nt, Point) and nt.x.tolist() == [1.0, 2.0] and tuple(nt.y.shape) == (2, 1)
    nested = default_collate([{"a": (1, [2.0, 3.0])}, {"a": (4, [5.0, 6.0])}])
    assert nested["a"][0].tolist() == [1, 4] and nested["a"][1][1].tolist() == [3.0, 6.0]
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([object(), object()])


def test_dataloader_over_numpy_dataset():
    class NumpyData(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"image": np.full((1, 2, 2), i, dtype=np.float32), "label": i}

    batches = list(DataLoader(NumpyData(), batch_size=2))
    assert tuple(batches[0]["image"].shape) == (2, 1, 2, 2)
    assert batches[2]["label"].tolist() == [4]


def test_default_convert_without_batching():
    out = data.default_convert({"a": np.ones(2, dtype=np.float32), "b": (np.zeros(1), 3)})
    assert isinstance(out["a"], rustgrad.Tensor) and isinstance(out["b"][0], rustgrad.Tensor)
    assert out["b"][1] == 3


def test_no_warnings_on_plain_use():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(DataLoader(Squares(5), batch_size=2, shuffle=True))
