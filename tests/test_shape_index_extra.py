"""The shape and indexing ops of python/rustgrad/_ops_reshape.py (unfold, tensor_split and
h/v/dsplit, take/take_along_dim, put, index_fill/index_copy/index_put, masked_scatter, scatter_reduce,
select/slice_scatter, rot90, fliplr/flipud, tile, broadcast_to, sum_to_size, narrow_copy,
fill_diagonal_...) and the small predicates: values and errors against PyTorch, gradients by finite
differences in float64."""

import numpy as np
import pytest

import rustgrad as rg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(2)
A = RNG.uniform(-2, 2, (2, 5))
B = RNG.uniform(-2, 2, (2, 5))
CUBE = np.arange(24.0).reshape(2, 3, 4)


def I(T, values):  # noqa: E743 (an index tensor)
    return T(np.array(values, dtype=np.int64))


def assert_same(ours, theirs):
    if isinstance(theirs, (tuple, list)):
        assert len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            assert_same(o, t)
        return
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-12)


CASES = {
    "unfold_last": lambda m, T: T(CUBE).unfold(2, 2, 1),
    "unfold_step": lambda m, T: T(CUBE).unfold(1, 2, 2),
    "unfold_0d": lambda m, T: T(3.0).unfold(0, 1, 1),
    "tensor_split_sections": lambda m, T: m.arange(10).tensor_split(3),
    "tensor_split_indices": lambda m, T: T(CUBE).tensor_split([1, -1, 10], dim=2),
    "tensor_split_tensor": lambda m, T: m.tensor_split(T(CUBE), I(T, [1, 2]), 1),
    "hsplit": lambda m, T: m.hsplit(T(CUBE), 3),
    "hsplit_1d": lambda m, T: m.arange(6).hsplit(2),
    "vsplit": lambda m, T: T(CUBE).vsplit([1]),
    "dsplit": lambda m, T: m.dsplit(T(CUBE), 2),
    "split_with_sizes": lambda m, T: T(CUBE).split_with_sizes([1, 3], 2),
    "unsafe_split": lambda m, T: T(CUBE).unsafe_split(2, 2),
    "unsafe_chunk": lambda m, T: T(CUBE).unsafe_chunk(2, 1),
    "ravel": lambda m, T: T(CUBE).ravel(),
    "take": lambda m, T: T(A).take(I(T, [[0, -1], [3, 4]])),
    "take_along_dim": lambda m, T: T(A).take_along_dim(T(A).argsort(1), 1),
    "take_along_dim_flat": lambda m, T: m.take_along_dim(T(A), I(T, [9, 0])),
    "take_along_dim_broadcast": lambda m, T: T(CUBE).take_along_dim(I(T, [[[0], [2], [1]]]), 2),
    "put": lambda m, T: T(A).put(I(T, [0, 7]), T(np.array([9.0, 8.0]))),
    "put_accumulate": lambda m, T: T(A).put_(I(T, [0, 0, -1]), T(np.array([9.0, 8.0, 1.0])), accumulate=True),
    "index_fill": lambda m, T: T(A).index_fill(1, I(T, [0, 2, -1]), -5.0),
    "index_fill_tensor_value": lambda m, T: T(A).index_fill_(0, I(T, [1]), T(7.0)),
    "index_fill_int": lambda m, T: m.index_fill(I(T, [[1, 2], [3, 4]]), 0, I(T, [0]), 9),
    "index_copy": lambda m, T: T(A).index_copy(0, I(T, [1]), T(B[:1])),
    "index_copy_dim1": lambda m, T: m.index_copy(T(A), 1, I(T, [4, 0]), T(B[:, :2])),
    "index_put": lambda m, T: T(A).index_put((I(T, [0, 1]), I(T, [2, 3])), T(np.array(7.0))),
    "index_put_rows_accumulate": lambda m, T: T(A).index_put_((I(T, [0, 0]),), T(B[:1]), accumulate=True),
    "index_put_bool": lambda m, T: m.index_put(T(B), (T(B) > 0,), T(np.array(-1.0))),
    "masked_scatter": lambda m, T: T(A).masked_scatter(T(B) > 0, m.arange(10.0, dtype=m.float64)),
    "masked_scatter_broadcast": lambda m, T: T(A).masked_scatter(T(np.array([True, False, True, False, True])),
                                                                 m.arange(10.0, dtype=m.float64)),
    "masked_scatter_mask_broadcasts_self": lambda m, T: m.zeros(5, dtype=m.float64).masked_scatter(
        T(B > 0), m.arange(10.0, dtype=m.float64)),
    "index_fill_0d": lambda m, T: T(np.array(2.0)).index_fill(0, I(T, 0), 5.0),
    "scatter_reduce_sum": lambda m, T: T(A).scatter_reduce(1, I(T, [[0, 0, 1], [2, 2, 2]]), T(B[:, :3]), "sum"),
    "scatter_reduce_mean": lambda m, T: T(A).scatter_reduce(1, I(T, [[0, 0, 1], [2, 2, 2]]), T(B[:, :3]), "mean"),
    "scatter_reduce_mean_excl": lambda m, T: T(A).scatter_reduce(1, I(T, [[0, 0, 1], [2, 2, 2]]), T(B[:, :3]),
                                                                 "mean", include_self=False),
    "scatter_reduce_sum_excl": lambda m, T: T(A).scatter_reduce_(0, I(T, [[1, 0]]), T(B[:1, :2]), "sum",
                                                                 include_self=False),
    "select_scatter": lambda m, T: m.select_scatter(T(A), T(B[0]), 0, -1),
    "slice_scatter": lambda m, T: m.slice_scatter(T(A), T(B[:, :2]), 1, 1, 5, 2),
    "slice_scatter_default": lambda m, T: T(A).slice_scatter(T(B)),
    "rot90": lambda m, T: T(CUBE).rot90(),
    "rot90_k2": lambda m, T: m.rot90(T(CUBE), 2, [1, 2]),
    "rot90_k3_reversed": lambda m, T: m.rot90(T(CUBE), -1, [2, 0]),
    "fliplr": lambda m, T: T(CUBE).fliplr(),
    "flipud": lambda m, T: m.flipud(T(CUBE)),
    "tile": lambda m, T: T(A).tile((2,)),
    "tile_more_dims": lambda m, T: m.tile(T(A[0]), (2, 1, 2)),
    "broadcast_to": lambda m, T: T(A[0]).broadcast_to((3, 5)),
    "sum_to_size": lambda m, T: T(CUBE).sum_to_size(3, 1),
    "sum_to_size_tuple": lambda m, T: T(CUBE).sum_to_size((1, 3, 4)),
    "narrow_copy": lambda m, T: T(A).narrow_copy(1, 1, 2),
    "fill_diagonal_": lambda m, T: m.zeros(5, 3).fill_diagonal_(2.0),
    "fill_diagonal_wrap": lambda m, T: m.zeros(7, 3).fill_diagonal_(2.0, wrap=True),
    "fill_diagonal_wide": lambda m, T: m.zeros(3, 5).fill_diagonal_(1.0),
    "fill_diagonal_3d": lambda m, T: m.zeros(3, 3, 3).fill_diagonal_(4.0),
    "argwhere": lambda m, T: m.argwhere(T(B) > 0),
    "adjoint": lambda m, T: T(A).adjoint(),
    "mH": lambda m, T: T(CUBE).mH,
    "H": lambda m, T: T(A).H,
    "conj": lambda m, T: T(A).conj(),
    "resolve_conj": lambda m, T: m.resolve_conj(T(A)),
    "resolve_neg": lambda m, T: T(A).resolve_neg(),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_pytorch(name):
    assert_same(CASES[name](rg, rg.tensor), CASES[name](torch, torch.tensor))


GRADS = {
    "unfold": (lambda a: a.unfold(1, 3, 2), [A]),
    "tensor_split": (lambda a: a.tensor_split(3, 1)[1], [A]),
    "take": (lambda a: a.take(rg.tensor([[0, -1], [3, 3]])), [A]),
    "take_along_dim": (lambda a: a.take_along_dim(rg.tensor([[0, 0, 4]]), 1), [A]),
    "put": (lambda a, b: a.put(rg.tensor([1, 8]), b.reshape(-1)[:2]), [A, B]),
    "put_accumulate": (lambda a, b: a.put(rg.tensor([1, 1]), b.reshape(-1)[:2], accumulate=True), [A, B]),
    "index_fill": (lambda a: a.index_fill(1, rg.tensor([0, 3]), 2.0), [A]),
    "index_copy": (lambda a, b: a.index_copy(1, rg.tensor([4, 0]), b[:, :2]), [A, B]),
    "index_put": (lambda a, b: a.index_put((rg.tensor([1, 0]),), b, accumulate=True), [A, B]),
    "masked_scatter": (lambda a, b: a.masked_scatter(rg.tensor(B > 0), b), [A, B]),
    "scatter_reduce_mean": (lambda a, b: a.scatter_reduce(1, rg.tensor([[0, 0], [1, 4]]), b[:, :2], "mean"), [A, B]),
    "select_scatter": (lambda a, b: rg.select_scatter(a, b[0], 0, 1), [A, B]),
    "slice_scatter": (lambda a, b: rg.slice_scatter(a, b[:, :2], 1, 0, 4, 2), [A, B]),
    "rot90": (lambda a: a.rot90(3), [A]),
    "tile": (lambda a: a.tile((2, 2)), [A]),
    "sum_to_size": (lambda a: a.sum_to_size(1, 5), [A]),
}


@pytest.mark.parametrize("name", sorted(GRADS))
def test_gradients_by_finite_differences(name):
    fn, arrays = GRADS[name]
    assert rg.autograd.gradcheck(fn, [rg.tensor(a, requires_grad=True) for a in arrays])


@pytest.mark.parametrize("call", [
    lambda m, T: T(CUBE).unfold(2, 5, 1),
    lambda m, T: T(CUBE).unfold(2, 2, 0),
    lambda m, T: m.arange(10).tensor_split(0),
    lambda m, T: m.hsplit(T(CUBE), 5),
    lambda m, T: m.vsplit(m.arange(4), 2),
    lambda m, T: T(A).take(I(T, [10])),
    lambda m, T: T(A).split_with_sizes([1, 1], 1),
    lambda m, T: T(A).scatter_reduce(1, I(T, [[0]]), T(B), "foo"),
    lambda m, T: T(A).index_put((I(T, [0]),), T(1.0)),
    lambda m, T: T(A).index_copy(0, I(T, [5]), T(B[:1])),
    lambda m, T: T(A).index_copy(0, I(T, [[0]]), T(B[:1])),
    lambda m, T: T(A).index_fill(0, I(T, [[0]]), 1.0),
    lambda m, T: T(A).index_fill(0, I(T, [-3]), 1.0),
    lambda m, T: T(A).take(T([0.0])),
    lambda m, T: T(A).rot90(1, [0, 0]),
    lambda m, T: m.fliplr(m.arange(3)),
    lambda m, T: T(A).sum_to_size(3, 5),
    lambda m, T: T(A).index_fill(0, I(T, [0]), T(B)),
    lambda m, T: T(A).index_fill(0, I(T, [5]), 1.0),
    lambda m, T: m.zeros(3).fill_diagonal_(1.0),
    lambda m, T: T(A).masked_scatter(T(B), T(B)),
    lambda m, T: T(A).H if False else T(CUBE).H,
    lambda m, T: m.zeros(2).is_nonzero(),
])
def test_errors_match_pytorch(call):
    with pytest.raises(Exception) as theirs:
        call(torch, torch.tensor)
    with pytest.raises(type(theirs.value)) as ours:
        call(rg, rg.tensor)
    assert str(ours.value) == str(theirs.value)


def test_inplace_variants_write_into_self():
    x = rg.tensor(A)
    assert x.index_fill_(1, rg.tensor([0]), 0.0) is x
    assert x.put_(rg.tensor([1]), rg.tensor([5.0], dtype=rg.float64)) is x
    assert x.index_copy_(0, rg.tensor([0]), rg.tensor(B[:1])) is x
    assert x.index_put_((rg.tensor([1]),), rg.tensor(3.0, dtype=rg.float64)) is x
    assert x.masked_scatter_(x > 0, rg.tensor(B)) is x
    assert x.scatter_(1, rg.tensor([[0], [1]]), 1.5) is x
    assert x.scatter_add_(1, rg.tensor([[0], [1]]), rg.tensor([[1.0], [2.0]], dtype=rg.float64)) is x
    assert x.index_add_(0, rg.tensor([1]), rg.ones(1, 5, dtype=rg.float64)) is x
    t = torch.tensor(A)
    t.index_fill_(1, torch.tensor([0]), 0.0).put_(torch.tensor([1]), torch.tensor([5.0], dtype=torch.float64))
    t.index_copy_(0, torch.tensor([0]), torch.tensor(B[:1])).index_put_((torch.tensor([1]),), torch.tensor(3.0,
                                                                          dtype=torch.float64))
    t.masked_scatter_(t > 0, torch.tensor(B)).scatter_(1, torch.tensor([[0], [1]]), 1.5)
    t.scatter_add_(1, torch.tensor([[0], [1]]), torch.tensor([[1.0], [2.0]], dtype=torch.float64))
    t.index_add_(0, torch.tensor([1]), torch.ones(1, 5, dtype=torch.float64))
    np.testing.assert_allclose(x.numpy(), t.numpy())


def test_predicates():
    x, t = rg.tensor(A), torch.tensor(A)
    for name in ("is_nonzero", "is_signed", "is_pinned", "is_shared", "is_conj", "is_neg"):
        if name == "is_nonzero":
            assert rg.tensor([2.0]).is_nonzero() == torch.tensor([2.0]).is_nonzero()
            continue
        assert getattr(x, name)() == getattr(t, name)(), name
    assert rg.tensor([True]).is_signed() == torch.tensor([True]).is_signed()
    assert x.is_same_size(rg.zeros(2, 5)) and not x.is_same_size(rg.zeros(5, 2))
    assert x.is_meta is False
    assert x.dim_order() == t.dim_order() == (0, 1)
    assert x.t().dim_order() == t.t().dim_order() == (1, 0)


def test_map_applies_a_python_function():
    x, t = rg.tensor(A), torch.tensor(A)
    y, u = rg.tensor(B[0]), torch.tensor(B[0])
    x.map_(y, lambda a, b: a * 2 + b)
    t.map_(u, lambda a, b: a * 2 + b)
    np.testing.assert_allclose(x.numpy(), t.numpy())
