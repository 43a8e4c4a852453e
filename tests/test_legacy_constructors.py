"""``rustgrad.Tensor(...)`` and the typed legacy constructors (``LongTensor(...)``, ...) follow
PyTorch's rules: sizes make a tensor of that shape, data is converted to the constructor's dtype."""

import numpy as np
import pytest

import rustgrad as rg

CASES = [
    ("Tensor", ([1, 2, 3],)),
    ("Tensor", ([[True, False]],)),
    ("Tensor", (2, 3)),
    ("Tensor", ()),
    ("FloatTensor", ([1, 2],)),
    ("DoubleTensor", ([0.5, 1.5],)),
    ("LongTensor", ([1, 2, 3],)),
    ("LongTensor", ([[1.7, -2.2]],)),
    ("LongTensor", (4,)),
    ("BoolTensor", ([1, 0, 2],)),
    ("FloatTensor", (np.arange(3, dtype=np.int64),)),
]


@pytest.mark.parametrize("name, args", CASES)
def test_dtype_shape_and_values(name, args):
    out = getattr(rg, name)(*args)
    expected_dtype = {"Tensor": rg.float32, "FloatTensor": rg.float32, "DoubleTensor": rg.float64,
                      "LongTensor": rg.int64, "BoolTensor": rg.bool}[name]
    assert out.dtype == expected_dtype
    if args and all(isinstance(a, int) for a in args):
        assert tuple(out.shape) == args
    elif not args:
        assert tuple(out.shape) == (0,)
    else:
        np.testing.assert_array_equal(out.numpy(), np.asarray(args[0]).astype(out.numpy().dtype))


def test_sizes_from_a_Size_and_isinstance():
    x = rg.LongTensor(rg.Size([2, 2]))
    assert tuple(x.shape) == (2, 2) and x.dtype == rg.int64
    assert isinstance(x, rg.LongTensor) and not isinstance(x, rg.FloatTensor)
    assert isinstance(rg.ones(2), rg.FloatTensor)
    t = rg.ones(3, dtype=rg.float64)
    assert rg.Tensor(t).dtype == rg.float64  # an existing tensor keeps its data and dtype


def test_tensor_constructor_requires_grad_and_parameter():
    x = rg.Tensor([1.0, 2.0], requires_grad=True)
    assert x.requires_grad and x.dtype == rg.float32
    p = rg.nn.Parameter(rg.ones(2, dtype=rg.float64))
    assert p.dtype == rg.float64 and p.requires_grad


def test_matches_torch():
    torch = pytest.importorskip("torch")
    for name, args in CASES:
        if any(isinstance(a, np.ndarray) for a in args):
            continue
        ours, theirs = getattr(rg, name)(*args), getattr(torch, name)(*args)
        assert tuple(ours.shape) == tuple(theirs.shape), name
        assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1], name
        if not all(isinstance(a, int) for a in args):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
