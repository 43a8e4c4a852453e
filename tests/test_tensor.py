"""Tensors from Python: creation, dtypes, views, printing, NumPy interop (issue 2, points 2 and 6)."""

import numpy as np
import pytest

import rustgrad as rg


def test_dtype_inference_as_pytorch():
    assert rg.tensor(1.5).dtype == rg.float32
    assert rg.tensor(3).dtype == rg.int64
    assert rg.tensor(True).dtype == rg.bool
    assert rg.tensor([1, 2.0]).dtype == rg.float32
    assert rg.tensor([True, 2]).dtype == rg.int64
    assert rg.tensor([]).dtype == rg.float32
    assert rg.tensor([[1, 2], [3, 4]]).shape == (2, 2)
    assert rg.tensor(np.zeros((2, 3), dtype=np.float64)).dtype == rg.float64
    assert rg.tensor(np.zeros(2, dtype=np.int32)).dtype == rg.int32
    assert rg.tensor([1, 2], dtype=rg.float64).dtype == rg.float64
    assert rg.tensor(np.float32(2.5)).item() == 2.5
    assert rg.tensor(np.array(3)).shape == () and rg.tensor(np.array(3.5)).item() == 3.5


def test_nested_lists_and_errors():
    t = rg.tensor([[[1], [2]], [[3], [4]]])
    assert t.shape == rg.Size([2, 2, 1])
    with pytest.raises(ValueError, match=r"expected sequence of length 2 at dim 1 \(got 1\)"):
        rg.tensor([[1, 2], [3]])
    with pytest.raises(ValueError):
        rg.tensor([1, [2, 3]])
    with pytest.raises(TypeError, match="new\\(\\): invalid data type 'str'"):
        rg.tensor("abc")
    with pytest.raises(TypeError):
        rg.tensor([1, "a"])
    with pytest.raises(TypeError):
        rg.tensor(object())


def test_factories():
    assert rg.zeros(2, 3).tolist() == [[0.0] * 3] * 2
    assert rg.ones((2,)).tolist() == [1.0, 1.0]
    assert rg.full((2, 2), 7).dtype == rg.int64
    assert rg.full((2, 2), 7.0).tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert rg.empty(3).shape == (3,)
    assert rg.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert rg.arange(1, 2, 0.25).tolist() == [1.0, 1.25, 1.5, 1.75]
    assert rg.arange(5).dtype == rg.int64 and rg.arange(0.0, 1.0).dtype == rg.float32
    assert rg.linspace(0, 1, 5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert rg.eye(2, 3).tolist() == [[1, 0, 0], [0, 1, 0]]
    x = rg.randn(4, 5, dtype=rg.float64)
    for like in (rg.zeros_like, rg.ones_like, rg.rand_like, rg.randn_like, rg.empty_like):
        y = like(x)
        assert y.shape == x.shape and y.dtype == rg.float64
    assert rg.full_like(x, 2).tolist()[0][0] == 2.0
    with pytest.raises(RuntimeError, match="negative dimension"):
        rg.zeros(-1, 2)


def test_get_default_dtype():
    assert rg.get_default_dtype() == rg.float32
    assert rg.randn(2).dtype == rg.get_default_dtype()


def test_random_is_reproducible_and_plausible():
    rg.manual_seed(7)
    a = rg.randn(1000)
    b = rg.rand(1000)
    c = rg.randint(0, 10, (1000,))
    rg.manual_seed(7)
    assert rg.randn(1000).tolist() == a.tolist()
    assert rg.rand(1000).tolist() == b.tolist()
    assert rg.randint(0, 10, (1000,)).tolist() == c.tolist()
    assert abs(a.mean().item()) < 0.15 and abs(a.std().item() - 1) < 0.1
    assert 0.0 <= b.min().item() and b.max().item() < 1.0
    assert c.min().item() == 0 and c.max().item() == 9 and c.dtype == rg.int64
    g = rg.Generator().manual_seed(3)
    p1 = rg.randperm(10, generator=g)
    g.manual_seed(3)
    assert rg.randperm(10, generator=g).tolist() == p1.tolist()
    assert sorted(p1.tolist()) == list(range(10))


def test_views_share_storage():
    x = rg.arange(12).reshape(3, 4)
    v = x.view(4, 3)
    v[0, 0] = 100
    assert x[0, 0].item() == 100
    assert x.t().is_contiguous() is False
    assert x.t().contiguous().is_contiguous()
    assert x.transpose(0, 1).shape == (4, 3) and x.T.shape == (4, 3)
    assert x.permute(1, 0).stride() == (1, 4)
    assert x[:, 1].tolist() == [1, 5, 9]
    assert x.narrow(1, 1, 2).tolist() == [[1, 2], [5, 6], [9, 10]]
    e = rg.tensor([[1], [2]]).expand(2, 3)
    assert e.tolist() == [[1, 1, 1], [2, 2, 2]] and e.stride() == (1, 0)
    assert x.unsqueeze(0).shape == (1, 3, 4) and x.unsqueeze(-1).squeeze().shape == (3, 4)
    assert x.flatten().shape == (12,) and x.reshape(-1, 6).shape == (2, 6)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        x.t().view(12)
    assert x.t().reshape(12).tolist() == [100, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]
    with pytest.raises(RuntimeError, match=r"shape '\[-1, 5\]' is invalid for input of size 12"):
        x.view(-1, 5)


def test_indexing():
    x = rg.arange(24).reshape(2, 3, 4)
    assert x[1, 2, 3].item() == 23
    assert x[-1].shape == (3, 4)
    assert x[..., 0].tolist() == [[0, 4, 8], [12, 16, 20]]
    assert x[:, None].shape == (2, 1, 3, 4)
    assert x[:, ::2, 1:3].tolist() == [[[1, 2], [9, 10]], [[13, 14], [21, 22]]]
    assert x[rg.tensor([1, 0])][0, 0, 0].item() == 12
    assert x[[0, 1], [1, 2]].tolist() == [[4, 5, 6, 7], [20, 21, 22, 23]]
    assert x[:, [0, 2], 1].tolist() == [[1, 9], [13, 21]]
    assert x[x > 20].tolist() == [21, 22, 23]
    assert x[0, rg.tensor([2, 0])].shape == (2, 4)
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 2"):
        x[5]
    with pytest.raises(IndexError, match="index 7 is out of bounds for dimension 0 with size 3"):
        x[0, rg.tensor([7])]
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0, 0]


def test_setitem():
    x = rg.zeros(3, 4)
    x[0] = 1.0
    x[1, 1:3] = rg.tensor([5.0, 6.0])
    x[:, 3] = rg.tensor([7.0, 8.0, 9.0])
    x[x == 0] = -1.0
    x[rg.tensor([2]), 0] = 42.0
    assert x.tolist() == [[1, 1, 1, 7], [-1, 5, 6, 8], [42, -1, -1, 9]]


def test_iteration_len_and_conversions():
    x = rg.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert len(x) == 2
    assert [r.tolist() for r in x] == [[1.0, 2.0], [3.0, 4.0]]
    assert float(rg.tensor(2.5)) == 2.5 and int(rg.tensor(3)) == 3
    assert bool(rg.tensor([1]))
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is ambiguous"):
        bool(x)
    with pytest.raises(RuntimeError, match="a Tensor with 4 elements cannot be converted to Scalar"):
        x.item()
    with pytest.raises(TypeError):
        len(rg.tensor(1.0))
    assert x.size() == (2, 2) and x.size(1) == 2 and x.dim() == 2 and x.ndim == 2 and x.numel() == 4
    assert x.float().dtype == rg.float32 and x.double().dtype == rg.float64
    assert x.long().tolist() == [[1, 2], [3, 4]] and x.to(rg.int64).dtype == rg.int64
    assert x.bool().dtype == rg.bool
    assert x.to(rg.float64).to("cpu").device == rg.device("cpu")
    assert rg.tensor([1.7, -1.7]).long().tolist() == [1, -1]


def test_numpy_zero_copy_both_ways():
    x = rg.arange(6, dtype=rg.float32).reshape(2, 3)
    a = x.numpy()
    a[0, 0] = 50.0
    assert x[0, 0].item() == 50.0
    t = x.t()
    assert np.array_equal(t.numpy(), a.T)
    arr = np.arange(6.0).reshape(2, 3)
    y = rg.from_numpy(arr)
    arr[1, 2] = -1.0
    assert y[1, 2].item() == -1.0
    y[0, 0] = 9.0
    assert arr[0, 0] == 9.0
    assert np.asarray(y).shape == (2, 3)
    assert np.array_equal(np.array(rg.tensor([True, False])), np.array([True, False]))
    with pytest.raises(RuntimeError, match="Can't call numpy\\(\\) on Tensor that requires grad"):
        rg.zeros(2, requires_grad=True).numpy()
    strided = rg.from_numpy(np.arange(10.0)[::2])
    assert strided.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
    with pytest.raises(TypeError):
        rg.from_numpy(np.zeros(2, dtype=np.complex64))


def test_repr_matches_pytorch():
    assert repr(rg.tensor([1.0, 2.5])) == "tensor([1.0000, 2.5000])"
    assert repr(rg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(rg.tensor([[1, 2], [3, 4]])) == "tensor([[1, 2],\n        [3, 4]])"
    assert repr(rg.tensor(3.0)) == "tensor(3.)"
    assert repr(rg.tensor([1.0], dtype=rg.float64)) == "tensor([1.], dtype=rustgrad.float64)"
    assert repr(rg.tensor([True, False])) == "tensor([ True, False])"
    assert repr(rg.zeros(2, requires_grad=True)) == "tensor([0., 0.], requires_grad=True)"
    assert repr((rg.ones(1, requires_grad=True) * 2)) == "tensor([2.], grad_fn=<MulBackward0>)"
    assert repr(rg.tensor([1e-5, 1.0])) == "tensor([1.0000e-05, 1.0000e+00])"
    assert repr(rg.zeros(0, 3)) == "tensor([], size=(0, 3))"
    long = repr(rg.arange(2000))
    assert long.startswith("tensor([   0,    1,    2,  ..., 1997, 1998, 1999])")
    assert repr(rg.Size([2, 3])) == "rustgrad.Size([2, 3])"
    assert repr(rg.float32) == "rustgrad.float32"
    assert repr(rg.device("cpu")) == "device(type='cpu')"


def test_operators():
    a = rg.tensor([1.0, 2.0, 3.0])
    b = rg.tensor([3.0, 2.0, 1.0])
    assert (a + b).tolist() == [4, 4, 4]
    assert (a - 1).tolist() == [0, 1, 2] and (1 - a).tolist() == [0, -1, -2]
    assert (a * 2).tolist() == [2, 4, 6] and (2 / a).tolist() == pytest.approx([2, 1, 2 / 3])
    assert (a ** 2).tolist() == [1, 4, 9] and (2 ** a).tolist() == [2, 4, 8]
    assert (a // 2).tolist() == [0, 1, 1] and (a % 2).tolist() == [1, 0, 1]
    assert (-a).tolist() == [-1, -2, -3] and abs(-a).tolist() == [1, 2, 3]
    assert (a @ b).item() == 10.0
    assert (a == b).tolist() == [False, True, False]
    assert (a < b).tolist() == [True, False, False] and (a >= 2).tolist() == [False, True, True]
    m = (a > 1) & (b > 1)
    assert m.tolist() == [False, True, False] and (~m).tolist() == [True, False, True]
    assert ((a > 1) | (b > 2)).tolist() == [True, True, True]
    c = a.clone()
    c += 1
    c *= 2
    c -= b
    c /= 2
    assert c.tolist() == [0.5, 2.0, 3.5]
    assert (rg.tensor([1, 2]) / 2).dtype == rg.float32
    assert (rg.tensor([1, 2]) * 1.5).dtype == rg.float32
    assert (rg.tensor([1, 2]) + rg.tensor(1.5, dtype=rg.float64)).dtype == rg.float64
    assert (a + rg.tensor(1.5, dtype=rg.float64)).dtype == rg.float32
    i = rg.tensor([1, 2])
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        i += 1.5
    with pytest.raises(RuntimeError, match="expected m1 and m2 to have the same dtype"):
        rg.ones(2, 2) @ rg.ones(2, 2, dtype=rg.float64)


def test_reductions_and_arg():
    x = rg.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]])
    assert x.sum().item() == 21 and x.sum(0).tolist() == [5, 7, 9] and x.sum(1, keepdim=True).shape == (2, 1)
    assert x.mean().item() == 3.5 and x.mean(1).tolist() == [3, 4]
    values, indices = x.max(1)
    assert values.tolist() == [5, 6] and indices.tolist() == [1, 2]
    assert x.min(0).indices.tolist() == [0, 1, 0]
    assert x.argmax().item() == 5 and x.argmin(1).tolist() == [0, 1]
    assert x.max().item() == 6 and x.min().item() == 1
    assert abs(x.var().item() - 3.5) < 1e-6 and abs(x.std(1, unbiased=False)[0].item() - (8 / 3) ** 0.5) < 1e-6
    assert rg.tensor([True, False]).all().item() is False and rg.tensor([True, False]).any().item() is True
    assert rg.tensor([1, 2, 3]).sum().dtype == rg.int64
    with pytest.raises(RuntimeError, match="mean\\(\\): could not infer output dtype"):
        rg.tensor([1, 2]).mean()
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.sum(2)


def test_cat_stack_split():
    a, b = rg.ones(2, 3), rg.zeros(1, 3)
    assert rg.cat([a, b]).shape == (3, 3)
    assert rg.cat([a, a], dim=1).shape == (2, 6)
    assert rg.stack([a, a], dim=1).shape == (2, 2, 3)
    with pytest.raises(RuntimeError, match="Sizes of tensors must match except in dimension 0"):
        rg.cat([a, rg.zeros(1, 2)])
    assert [p.shape for p in rg.arange(10).split(4)] == [(4,), (4,), (2,)]
    assert [p.tolist() for p in rg.arange(6).chunk(3)] == [[0, 1], [2, 3], [4, 5]]
    assert len(rg.ones(3, 2).unbind(0)) == 3
    assert rg.cat([rg.tensor([1]), rg.tensor([2.5])]).dtype == rg.float32


def test_where_clamp_misc():
    x = rg.tensor([-1.0, 0.5, 2.0])
    assert rg.where(x > 0, x, rg.zeros(3)).tolist() == [0, 0.5, 2]
    assert rg.where(x > 0, x, 0.0).tolist() == [0, 0.5, 2]
    assert x.clamp(0, 1).tolist() == [0, 0.5, 1] and x.clamp(min=0).tolist() == [0, 0.5, 2]
    assert x.relu().tolist() == [0, 0.5, 2]
    assert rg.maximum(x, rg.zeros(3)).tolist() == [0, 0.5, 2]
    with pytest.raises(RuntimeError, match="where expected condition to be a boolean tensor"):
        rg.where(x, x, x)


def test_inplace_methods_return_self():
    x = rg.zeros(3)
    assert x.add_(1) is x and x.mul_(3) is x and x.sub_(1) is x and x.div_(2) is x
    assert x.tolist() == [1, 1, 1]
    assert x.fill_(5) is x and x.tolist() == [5, 5, 5]
    assert x.zero_() is x and x.tolist() == [0, 0, 0]
    assert x.copy_(rg.tensor([1.0, -2.0, 3.0])) is x
    assert x.clamp_(-1, 1).tolist() == [1, -1, 1]
    assert x.relu_().tolist() == [1, 0, 1]
    v0 = x._version
    x.add_(1)
    assert x._version == v0 + 1
    with pytest.raises(RuntimeError, match="unsupported operation: more than one element of the written-to tensor"):
        rg.zeros(1).expand(3).add_(1)
