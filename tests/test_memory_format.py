"""Memory formats and the dense/real queries PyTorch code (its LBFGS among it) relies on:
``rustgrad.contiguous_format`` / ``preserve_format`` / ``channels_last`` / ``channels_last_3d``
accepted by clone, contiguous, cpu and the ``*_like`` factories (channels-last refused: rustgrad
tensors are always row-major), ``Tensor.is_sparse``, ``Tensor.is_complex`` and ``rustgrad.is_complex``,
with PyTorch's errors."""

import copy
import pickle
import re

import pytest

import rustgrad as rg

FORMATS = ["contiguous_format", "preserve_format", "channels_last", "channels_last_3d"]

CALLS = {
    "clone": lambda lib, x, f: x.clone(memory_format=f),
    "contiguous": lambda lib, x, f: x.contiguous(memory_format=f),
    "cpu": lambda lib, x, f: x.cpu(memory_format=f),
    "zeros_like": lambda lib, x, f: lib.zeros_like(x, memory_format=f),
    "ones_like": lambda lib, x, f: lib.ones_like(x, memory_format=f),
    "empty_like": lambda lib, x, f: lib.empty_like(x, memory_format=f),
    "full_like": lambda lib, x, f: lib.full_like(x, 2.0, memory_format=f),
    "rand_like": lambda lib, x, f: lib.rand_like(x, memory_format=f),
    "randn_like": lambda lib, x, f: lib.randn_like(x, memory_format=f),
    "torch.clone": lambda lib, x, f: lib.clone(x, memory_format=f),
}


def test_the_format_objects():
    for name in FORMATS:
        f = getattr(rg, name)
        assert isinstance(f, rg.memory_format) and repr(f) == f"rustgrad.{name}"
        assert pickle.loads(pickle.dumps(f)) is f and copy.deepcopy(f) is f
    with pytest.raises(TypeError, match=re.escape("cannot create 'rustgrad.memory_format' instances")):
        rg.memory_format()


@pytest.mark.parametrize("op", sorted(CALLS))
def test_contiguous_and_preserve_formats_are_accepted(op):
    x = rg.arange(6.0).reshape(2, 3).t()
    for f in (None, rg.contiguous_format, rg.preserve_format):
        out = CALLS[op](rg, x, f)
        # .cpu() of a CPU tensor is the tensor itself, whatever the format (as in PyTorch).
        assert tuple(out.shape) == (3, 2) and out.is_contiguous() == (op != "cpu")
    assert CALLS["clone"](rg, x, rg.preserve_format).tolist() == x.tolist()


@pytest.mark.parametrize("op", sorted(CALLS))
def test_channels_last_formats_raise_as_pytorch_or_are_refused(op):
    torch = pytest.importorskip("torch")
    for name, wrong_rank, rank in (("channels_last", (2, 3), 4), ("channels_last_3d", (2, 3, 4, 5), 5)):
        msg = f"required rank {rank} tensor to use {name} format"
        with pytest.raises(RuntimeError, match="^" + re.escape(msg) + "$"):
            CALLS[op](rg, rg.zeros(*wrong_rank), getattr(rg, name))
        with pytest.raises(RuntimeError, match="^" + re.escape(msg) + "$"):
            CALLS[op](torch, torch.zeros(*wrong_rank), getattr(torch, name))
        # The right rank: PyTorch changes the strides; rustgrad cannot and says so.
        with pytest.raises(NotImplementedError, match=re.escape(f"memory_format=rustgrad.{name} is not supported")):
            CALLS[op](rg, rg.zeros(*([2] * rank)), getattr(rg, name))


def test_a_memory_format_of_the_wrong_type_is_a_type_error():
    torch = pytest.importorskip("torch")
    for lib, module in ((rg, "rustgrad"), (torch, "torch")):
        with pytest.raises(TypeError, match=re.escape(
                f"clone(): argument 'memory_format' must be {module}.memory_format, not int")):
            lib.zeros(2).clone(memory_format=1)
        with pytest.raises(TypeError, match=re.escape(
                f"zeros_like(): argument 'memory_format' must be {module}.memory_format, not str")):
            lib.zeros_like(lib.zeros(2), memory_format="channels_last")


def test_is_sparse_and_is_complex_match_pytorch():
    torch = pytest.importorskip("torch")
    for lib in (rg, torch):
        for x in (lib.zeros(2), lib.zeros(2, dtype=lib.float64), lib.zeros(2, dtype=lib.int64)):
            assert x.is_sparse is False
            assert x.is_complex() is False and lib.is_complex(x) is False
        with pytest.raises(TypeError, match=re.escape(
                "is_complex(): argument 'input' (position 1) must be Tensor, not int")):
            lib.is_complex(1)


def test_is_contiguous_in_each_memory_format_as_pytorch():
    torch = pytest.importorskip("torch")
    for lib in (rg, torch):
        x = lib.zeros(2, 3, 4, 5)
        nhwc = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
        got = [x.is_contiguous(memory_format=lib.channels_last), nhwc.is_contiguous(memory_format=lib.channels_last),
               nhwc.is_contiguous(), x.is_contiguous(memory_format=lib.preserve_format),
               lib.zeros(3).is_contiguous(memory_format=lib.channels_last),
               lib.zeros(1, 3, 1, 1).is_contiguous(memory_format=lib.channels_last),
               lib.zeros(1, 2, 3, 4, 5).permute(0, 2, 3, 4, 1).contiguous().permute(0, 4, 1, 2, 3)
               .is_contiguous(memory_format=lib.channels_last_3d)]
        assert got == [False, True, False, True, False, True, True]
    with pytest.raises(TypeError, match=r"^is_contiguous\(\): argument 'memory_format' must be "
                                        r"rustgrad.memory_format, not int$"):
        rg.zeros(2).is_contiguous(memory_format=3)
