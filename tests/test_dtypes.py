"""The storage dtypes (float16, bfloat16, uint8, int8, int16, int32) beside float32/float64/int64/bool:
creation, conversion, PyTorch's promotion rules, ops, NumPy interop, printing, the default dtype."""

import numpy as np
import pytest

import rustgrad as rg

torch = pytest.importorskip("torch")

NAMES = ["float16", "bfloat16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool"]
NEW = ["float16", "bfloat16", "uint8", "int8", "int16", "int32"]
FLOATS = ["float16", "bfloat16", "float32", "float64"]
INTS = ["uint8", "int8", "int16", "int32", "int64"]


def rd(name):
    return getattr(rg, name)


def td(name):
    return getattr(torch, name)


def same(ours, theirs):
    """Same dtype (by name), shape and values (bit-identical, NaN equal to NaN)."""
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    assert tuple(ours.shape) == tuple(theirs.shape)
    a = ours.float().numpy() if ours.dtype == rg.bfloat16 else ours.numpy()
    b = theirs.float().numpy() if theirs.dtype == torch.bfloat16 else theirs.numpy()
    np.testing.assert_array_equal(a, b)


# ----- dtype objects and names -----------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_dtype_attributes_match_pytorch(name):
    ours, theirs = rd(name), td(name)
    assert ours.is_floating_point == theirs.is_floating_point
    assert ours.is_signed == theirs.is_signed
    assert ours.itemsize == theirs.itemsize
    assert repr(ours) == repr(theirs).replace("torch", "rustgrad")
    x, y = rg.zeros(3, dtype=ours), torch.zeros(3, dtype=theirs)
    assert x.element_size() == y.element_size() and x.itemsize == y.itemsize
    assert x.is_floating_point() == y.is_floating_point()
    assert x.type() == y.type().replace("torch", "rustgrad")


def test_aliases_are_distinct_dtypes():
    assert rg.int is rg.int32 and rg.int32 != rg.int64
    assert rg.half is rg.float16 and rg.short is rg.int16
    assert rg.int32 != rg.int64 and rg.float16 != rg.bfloat16


@pytest.mark.parametrize("name", NEW)
def test_finfo_iinfo(name):
    if rd(name).is_floating_point:
        ours, theirs = rg.finfo(rd(name)), torch.finfo(td(name))
        for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
            assert getattr(ours, attr) == getattr(theirs, attr), attr
        assert str(ours) == str(theirs)
    else:
        ours, theirs = rg.iinfo(rd(name)), torch.iinfo(td(name))
        assert (ours.bits, ours.min, ours.max) == (theirs.bits, theirs.min, theirs.max)
        assert str(ours) == str(theirs)


# ----- creation and conversion -----------------------------------------------------------------

@pytest.mark.parametrize("name", NEW)
def test_factories_take_every_dtype(name):
    d, t = rd(name), td(name)
    same(rg.zeros(2, 3, dtype=d), torch.zeros(2, 3, dtype=t))
    same(rg.ones(4, dtype=d), torch.ones(4, dtype=t))
    same(rg.full((2,), 7, dtype=d), torch.full((2,), 7, dtype=t))
    same(rg.arange(5, dtype=d), torch.arange(5, dtype=t))
    same(rg.eye(3, dtype=d), torch.eye(3, dtype=t))
    same(rg.tensor([[1, 2], [3, 4]], dtype=d), torch.tensor([[1, 2], [3, 4]], dtype=t))
    assert rg.empty(2, dtype=d).dtype == d
    x = rg.ones(2, 2, dtype=d)
    for like in ("zeros_like", "ones_like", "empty_like"):
        assert getattr(rg, like)(x).dtype == d
    assert rg.full_like(x, 3).dtype == d
    assert rg.randint(0, 5, (3,), dtype=d).dtype == d
    if d.is_floating_point:
        same(rg.linspace(0, 1, 5, dtype=d), torch.linspace(0, 1, 5, dtype=t))
        assert rg.rand(3, dtype=d).dtype == d and rg.randn(3, dtype=d).dtype == d
        assert rg.rand_like(x).dtype == d and rg.randn_like(x).dtype == d


@pytest.mark.parametrize("method,name", [("half", "float16"), ("bfloat16", "bfloat16"), ("int", "int32"),
                                         ("short", "int16"), ("byte", "uint8"), ("char", "int8"),
                                         ("float", "float32"), ("double", "float64"), ("long", "int64"),
                                         ("bool", "bool")])
def test_conversion_methods(method, name):
    values = [0.0, 1.5, -2.7, 100.25, -129.5, 255.9]
    ours = getattr(rg.tensor(values), method)()
    theirs = getattr(torch.tensor(values), method)()
    same(ours, theirs)
    same(rg.tensor(values).to(rd(name)), theirs)
    same(rg.tensor(values).type(rd(name)), theirs)
    same(rg.tensor(values).type(f"torch.{theirs.type().split('.')[-1]}"), theirs)


def test_half_rounds_to_nearest_even_and_overflows_to_infinity():
    # Ties between float16 neighbours (2048 | 2050, 2052 | 2054) and float32 values just off a tie.
    values = [2049.0, 2051.0, 2053.0, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504.0, 65519.0, 65520.0, 1e6, -1e6,
              2 ** -25, 2 ** -24, 3 * 2 ** -26, float("nan"), float("inf"), 0.1, -0.0]
    for name in ("float16", "bfloat16"):
        for src in ("float32", "float64"):
            same(rg.tensor(values, dtype=rd(src)).to(rd(name)), torch.tensor(values, dtype=td(src)).to(td(name)))
        same(rg.tensor(values, dtype=rd(name)), torch.tensor(values, dtype=td(name)))
    bf_ties = [257.0, 259.0, 1 + 2 ** -8, 3.4e38, 1e39]
    same(rg.tensor(bf_ties).bfloat16(), torch.tensor(bf_ties).bfloat16())
    assert rg.tensor([70000.0]).half().item() == float("inf")


@pytest.mark.parametrize("name", INTS + ["bool"])
def test_integer_casts_wrap_and_truncate_as_pytorch(name):
    ints = [0, 1, -1, 127, 128, -129, 255, 256, 32767, 32768, -32769, 2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 40 + 5]
    same(rg.tensor(ints).to(rd(name)), torch.tensor(ints).to(td(name)))
    floats = [0.0, 0.9, -0.9, 2.7, -2.7, 127.5, 200.0, -200.0, 1000.0, 70000.5, -70000.5]
    same(rg.tensor(floats).to(rd(name)), torch.tensor(floats).to(td(name)))
    for src in NEW:
        small = [0, 1, 3, 100]
        same(rg.tensor(small, dtype=rd(src)).to(rd(name)), torch.tensor(small, dtype=td(src)).to(td(name)))


# ----- promotion -------------------------------------------------------------------------------

def test_promote_types_matches_pytorch_for_every_pair():
    for a in NAMES:
        for b in NAMES:
            ours = rg.promote_types(rd(a), rd(b))
            assert str(ours).split(".")[-1] == str(torch.promote_types(td(a), td(b))).split(".")[-1], (a, b)


def test_can_cast_matches_pytorch_for_every_pair():
    for a in NAMES:
        for b in NAMES:
            assert rg.can_cast(rd(a), rd(b)) == torch.can_cast(td(a), td(b)), (a, b)


def test_promotion_argument_errors():
    with pytest.raises(TypeError, match=r"promote_types\(\): argument 'type2' \(position 2\) must be torch.dtype"):
        rg.promote_types(rg.int32, 1)
    with pytest.raises(TypeError, match=r"can_cast\(\): argument 'to' \(position 2\) must be torch.dtype"):
        rg.can_cast(rg.float32, "x")


def _operand(kind, name, lib):
    dt = getattr(lib, name)
    if kind == "dim":
        return lib.ones(2, dtype=dt)
    return lib.ones((), dtype=dt)


def test_result_type_tiers_match_pytorch():
    scalars = [5, 2.5, True]
    for a in NAMES:
        for b in NAMES:
            for ka, kb in (("dim", "dim"), ("dim", "zero"), ("zero", "dim"), ("zero", "zero")):
                ours = rg.result_type(_operand(ka, a, rg), _operand(kb, b, rg))
                theirs = torch.result_type(_operand(ka, a, torch), _operand(kb, b, torch))
                assert str(ours).split(".")[-1] == str(theirs).split(".")[-1], (a, ka, b, kb)
        for s in scalars:
            for kind in ("dim", "zero"):
                ours = rg.result_type(_operand(kind, a, rg), s)
                theirs = torch.result_type(_operand(kind, a, torch), s)
                assert str(ours).split(".")[-1] == str(theirs).split(".")[-1], (a, kind, s)


@pytest.mark.parametrize("a", NAMES)
@pytest.mark.parametrize("b", NAMES)
def test_binary_ops_promote_as_pytorch(a, b):
    x = [[1, 2, 3], [4, 0, 1]]
    ours = rg.tensor(x, dtype=rd(a)) * rg.tensor([1, 1, 2], dtype=rd(b))
    theirs = torch.tensor(x, dtype=td(a)) * torch.tensor([1, 1, 2], dtype=td(b))
    same(ours, theirs)
    same(rg.tensor(x, dtype=rd(a)) + rg.tensor(3, dtype=rd(b)), torch.tensor(x, dtype=td(a)) + torch.tensor(3, dtype=td(b)))
    same(rg.tensor(x, dtype=rd(a)) == rg.tensor([1, 1, 2], dtype=rd(b)),
         torch.tensor(x, dtype=td(a)) == torch.tensor([1, 1, 2], dtype=td(b)))


def test_scalar_only_raises_the_category():
    same(rg.tensor([1, 2], dtype=rg.int32) + 5, torch.tensor([1, 2], dtype=torch.int32) + 5)
    same(rg.tensor([1, 2], dtype=rg.int32) + 2.5, torch.tensor([1, 2], dtype=torch.int32) + 2.5)
    same(rg.tensor([1, 2], dtype=rg.uint8) + rg.tensor(300), torch.tensor([1, 2], dtype=torch.uint8) + torch.tensor(300))
    same(rg.tensor([1, 2], dtype=rg.float16) * 3.5, torch.tensor([1, 2], dtype=torch.float16) * 3.5)
    same(rg.tensor([True, False]) + rg.tensor([3, 4], dtype=rg.uint8),
         torch.tensor([True, False]) + torch.tensor([3, 4], dtype=torch.uint8))


def test_in_place_ops_refuse_results_that_do_not_fit():
    x = rg.tensor([1, 2], dtype=rg.int32)
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Int"):
        x.add_(1.5)
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Short"):
        rg.tensor([1], dtype=rg.int16).mul_(rg.tensor([1.5]))
    h = rg.tensor([1.0, 2.0], dtype=rg.float16)
    h.add_(rg.tensor([1.0, 1.0]))  # float32 into float16: same category, allowed
    assert h.dtype == rg.float16 and h.tolist() == [2.0, 3.0]
    y = rg.tensor([1, 2], dtype=rg.int8)
    y.add_(200)  # wraps as PyTorch does
    same(y, torch.tensor([1, 2], dtype=torch.int8).add_(200))


# ----- ops per dtype ---------------------------------------------------------------------------

DATA = [[3.25, -1.5, 0.0, 2.0], [7.0, 1.0, -4.75, 5.5], [0.5, 2.0, 3.0, -8.0]]


def pair(name, data=DATA):
    if name in ("uint8",):
        data = np.abs(np.array(data)).tolist()
    return rg.tensor(data).to(rd(name)), torch.tensor(data).to(td(name))


@pytest.mark.parametrize("name", NEW)
def test_elementwise_ops(name):
    x, t = pair(name)
    y, u = pair(name, [[1.0, 2.0, 3.0, 1.0]] * 3)
    for f in (lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b,
              lambda a, b: a // b, lambda a, b: a % b, lambda a, b: a.maximum(b), lambda a, b: a.minimum(b),
              lambda a, b: a < b, lambda a, b: a >= b, lambda a, b: a != b, lambda a, b: a.where(a > b, b),
              lambda a, b: a * 2 + 1, lambda a, b: a.clamp(0, 3)):
        same(f(x, y), f(t, u))
    for f in (lambda a: a.abs(), lambda a: -a if a.dtype != getattr(type(a), "uint8", None) else a,
              lambda a: a.square(), lambda a: a.sign(), lambda a: a.relu(), lambda a: a.logical_not()):
        same(f(x), f(t))
    if rd(name).is_floating_point:
        for f in (lambda a: a.exp(), lambda a: a.abs().sqrt(), lambda a: a.sigmoid(), lambda a: a.tanh(),
                  lambda a: a.sin(), lambda a: a.floor(), lambda a: a.round(), lambda a: a.abs().log1p()):
            same(f(x), f(t))
    else:
        same(x.abs().sqrt(), t.abs().sqrt())  # integers compute in the default float dtype


@pytest.mark.parametrize("name", NEW)
def test_reductions(name):
    x, t = pair(name)
    for f in (lambda a: a.max(), lambda a: a.min(), lambda a: a.argmax(), lambda a: a.argmin(dim=1),
              lambda a: a.max(dim=0).values, lambda a: a.max(dim=0).indices, lambda a: a.min(1).values,
              lambda a: a.any(), lambda a: a.all(dim=1)):
        same(f(x), f(t))
    # Integer sums and products are int64, as in PyTorch; half ones keep their dtype.
    same(x.sum(), t.sum())
    same(x.sum(dim=1), t.sum(dim=1))
    same(x.prod(dim=0), t.prod(dim=0))
    same(x.cumsum(1), t.cumsum(1))
    if rd(name).is_floating_point:
        same(x.mean(), t.mean())
        same(x.mean(dim=0), t.mean(dim=0))
        np.testing.assert_allclose(x.std().float().item(), t.std().float().item(), rtol=1e-2)
        same(x.softmax(1), t.softmax(1))


@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("index_dtype", ["int64", "int32"])
def test_index_and_shape_ops(name, index_dtype):
    x, t = pair(name)
    i = [2, 0]
    ri, ti = rg.tensor(i, dtype=rd(index_dtype)), torch.tensor(i, dtype=td(index_dtype))
    same(x[ri], t[ti])
    same(x[:, ri], t[:, ti])
    same(x.index_select(1, ri), t.index_select(1, ti))
    g = [[0, 1], [3, 3], [2, 0]]
    rg_g, t_g = rg.tensor(g, dtype=rd(index_dtype)), torch.tensor(g, dtype=td(index_dtype))
    same(x.gather(1, rg_g), t.gather(1, t_g))
    same(x.scatter(1, rg_g, x[:, :2]), t.scatter(1, t_g, t[:, :2]))
    same(x[x > 1], t[t > 1])
    same(x.t().contiguous(), t.t().contiguous())
    same(x.reshape(4, 3), t.reshape(4, 3))
    same(rg.cat([x, x]), torch.cat([t, t]))
    same(rg.stack([x, x], 1), torch.stack([t, t], 1))
    same(x.flip(0), t.flip(0))
    same(x.nonzero(), t.nonzero())
    same(x.sort(1).values, t.sort(1).values)
    same(x.topk(2).values, t.topk(2).values)
    same(x.unsqueeze(0).expand(2, 3, 4).sum(0), t.unsqueeze(0).expand(2, 3, 4).sum(0))
    y = x.clone()
    u = t.clone()
    y[0] = 9
    u[0] = 9
    same(y, u)
    y[ri] = y[ri] * 2
    u[ti] = u[ti] * 2
    same(y, u)


def test_index_dtype_errors_as_pytorch():
    x = rg.zeros(3)
    for name in ("int8", "int16"):
        idx = rg.tensor([0], dtype=rd(name))
        with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte or bool tensors"):
            x[idx]
        with pytest.raises(RuntimeError, match="index_select\\(\\): Expected dtype int32 or int64 for index"):
            x.index_select(0, idx)
        with pytest.raises(RuntimeError, match="gather\\(\\): Expected dtype int32/int64 for index"):
            x.gather(0, idx)
    # A uint8 index is a mask (PyTorch's deprecated byte mask).
    same(rg.tensor([1.0, 2.0, 3.0])[rg.tensor([1, 0, 1], dtype=rg.uint8)], torch.tensor([1.0, 3.0]))


@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_half_products_compute_in_float32_and_round_once(name):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 7)), rng.standard_normal((7, 3))
    x, y = rg.tensor(a).to(rd(name)), rg.tensor(b).to(rd(name))
    expect = (x.float() @ y.float()).to(rd(name))
    same(x @ y, torch.tensor(expect.float().numpy()).to(td(name)))
    assert (x @ y).dtype == rd(name)
    w = rg.tensor(rng.standard_normal((4, 7))).to(rd(name))
    out = rg.nn.functional.linear(x, w)
    assert out.dtype == rd(name)
    np.testing.assert_allclose(out.float().numpy(), (x.float() @ w.float().t()).numpy(), rtol=1e-2, atol=1e-2)
    img = rg.tensor(rng.standard_normal((1, 2, 5, 5))).to(rd(name))
    k = rg.tensor(rng.standard_normal((3, 2, 3, 3))).to(rd(name))
    conv = rg.nn.functional.conv2d(img, k)
    assert conv.dtype == rd(name)
    ref = rg.nn.functional.conv2d(img.float(), k.float()).to(rd(name))
    np.testing.assert_array_equal(conv.float().numpy(), ref.float().numpy())


@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_half_autograd_gives_grads_in_the_tensors_dtype(name):
    values = [[0.5, -1.25, 2.0], [1.5, 0.25, -0.75]]
    x = rg.tensor(values, dtype=rd(name), requires_grad=True)
    t = torch.tensor(values, dtype=td(name), requires_grad=True)
    ((x * x).sum() + (x.exp() * 2).mean()).backward()
    ((t * t).sum() + (t.exp() * 2).mean()).backward()
    assert x.grad.dtype == rd(name)
    np.testing.assert_allclose(x.grad.float().numpy(), t.grad.float().numpy(), rtol=1e-2)
    w = rg.tensor([[1.0], [2.0], [-1.0]], dtype=rd(name), requires_grad=True)
    (x @ w).sum().backward()
    assert w.grad.dtype == rd(name)


# ----- NumPy, Python values, printing ----------------------------------------------------------

@pytest.mark.parametrize("np_name", ["float16", "int8", "uint8", "int16", "int32"])
def test_numpy_round_trips(np_name):
    arr = np.array([[1, 2, 3], [4, 5, 100]], dtype=np_name)
    shared = rg.from_numpy(arr)
    assert shared.dtype == rd(np_name)
    shared[0, 0] = 7  # zero-copy both ways
    assert arr[0, 0] == 7
    back = shared.numpy()
    assert back.dtype == arr.dtype
    back[1, 1] = 9
    assert shared[1, 1].item() == 9
    copy = rg.tensor(arr)
    assert copy.dtype == rd(np_name)
    np.testing.assert_array_equal(copy.numpy(), arr)
    assert np.asarray(copy).dtype == arr.dtype


def test_bfloat16_has_no_numpy_dtype():
    with pytest.raises(TypeError, match="Got unsupported ScalarType BFloat16"):
        rg.ones(2, dtype=rg.bfloat16).numpy()


@pytest.mark.parametrize("name", NEW)
def test_item_tolist_and_printing(name):
    values = [[0.1, 1.5, 3.0], [-2.25, 100.0, 7.0]]
    if name == "uint8":
        values = [[0.1, 1.5, 3.0], [2.25, 100.0, 7.0]]
    x, t = rg.tensor(values, dtype=rd(name)), torch.tensor(values, dtype=td(name))
    assert x.tolist() == t.tolist()
    assert x[0, 0].item() == t[0, 0].item() and type(x[0, 0].item()) is type(t[0, 0].item())
    assert repr(x) == repr(t).replace("torch.", "rustgrad.")
    assert repr(x[0, 1]) == repr(t[0, 1]).replace("torch.", "rustgrad.")
    assert repr(rg.zeros(0, dtype=rd(name))) == repr(torch.zeros(0, dtype=td(name))).replace("torch.", "rustgrad.")


# ----- the default dtype -----------------------------------------------------------------------

@pytest.fixture
def restore_default_dtype():
    yield
    rg.set_default_dtype(rg.float32)


@pytest.mark.parametrize("name", FLOATS)
def test_set_default_dtype_is_used_everywhere(name, restore_default_dtype):
    rg.set_default_dtype(rd(name))
    torch.set_default_dtype(td(name))
    try:
        assert rg.get_default_dtype() == rd(name)
        for make in (lambda m: m.zeros(2), lambda m: m.ones(2, 2), lambda m: m.rand(2), lambda m: m.randn(2),
                     lambda m: m.tensor([1.5]), lambda m: m.tensor(2.5), lambda m: m.arange(0.0, 2.0),
                     lambda m: m.full((2,), 1.5), lambda m: m.linspace(0, 1, 3), lambda m: m.eye(2),
                     lambda m: m.tensor([1, 2]) / 2, lambda m: m.tensor([1, 2], dtype=m.int32) * 2.5,
                     lambda m: m.tensor([1, 2]).sqrt(), lambda m: m.Tensor([1, 2]), lambda m: m.tensor([])):
            assert str(make(rg).dtype).split(".")[-1] == str(make(torch).dtype).split(".")[-1]
        assert repr(rg.tensor([1.5, 2.0])) == repr(torch.tensor([1.5, 2.0])).replace("torch.", "rustgrad.")
        assert repr(rg.tensor([1.5], dtype=rg.float32)) == repr(torch.tensor([1.5], dtype=torch.float32)).replace(
            "torch.", "rustgrad.")
    finally:
        torch.set_default_dtype(torch.float32)


def test_set_default_dtype_refuses_other_dtypes():
    for bad in (rg.int32, rg.int64, rg.bool, rg.uint8):
        with pytest.raises(TypeError, match="only floating-point types are supported as the default type"):
            rg.set_default_dtype(bad)
    with pytest.raises(TypeError, match="invalid dtype object: only floating-point types are supported"):
        rg.set_default_dtype("float64")
    assert rg.get_default_dtype() == rg.float32


def test_legacy_typed_constructors():
    for cls, name in ((rg.HalfTensor, "float16"), (rg.BFloat16Tensor, "bfloat16"), (rg.IntTensor, "int32"),
                      (rg.ShortTensor, "int16"), (rg.CharTensor, "int8"), (rg.ByteTensor, "uint8")):
        t = cls([1, 2])
        assert t.dtype == rd(name) and isinstance(t, cls)
        assert not isinstance(rg.zeros(1), cls)


def test_dtypes_pickle_and_deepcopy_as_themselves():
    import copy
    import pickle

    for dtype in (rg.float32, rg.float16, rg.bfloat16, rg.int32, rg.uint8, rg.bool):
        assert pickle.loads(pickle.dumps(dtype)) is dtype
        assert copy.deepcopy({"dtype": dtype})["dtype"] is dtype
