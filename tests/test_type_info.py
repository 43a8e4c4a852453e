"""rustgrad.finfo / rustgrad.iinfo: IEEE-754 and two's-complement limits, PyTorch's attributes,
values, reprs and errors."""

import re
import struct

import numpy as np
import pytest

import rustgrad as rg

FLOAT_ATTRS = ["bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"]


@pytest.mark.parametrize("name,np_dtype", [("float32", np.float32), ("float64", np.float64)])
def test_finfo_matches_numpy(name, np_dtype):
    fi, ref = rg.finfo(getattr(rg, name)), np.finfo(np_dtype)
    assert fi.bits == ref.bits
    assert fi.eps == float(ref.eps)
    assert fi.max == float(ref.max) and fi.min == float(ref.min)
    assert fi.tiny == float(ref.tiny) == fi.smallest_normal
    assert fi.resolution == 10.0 ** -ref.precision  # numpy stores it in the dtype itself
    assert fi.dtype == name
    assert all(isinstance(getattr(fi, a), float) for a in ("eps", "max", "min", "tiny", "resolution"))


def test_finfo_values_are_representable_limits():
    fi = rg.finfo(rg.float32)
    # max is the largest finite float32: it round-trips, and the next step up overflows.
    assert struct.unpack("f", struct.pack("f", fi.max))[0] == fi.max
    assert rg.tensor([fi.max], dtype=rg.float32).item() == fi.max
    assert (rg.tensor([1.0], dtype=rg.float32) + fi.eps).item() > 1.0
    assert (rg.tensor([1.0], dtype=rg.float32) + fi.eps / 4).item() == 1.0
    assert (rg.tensor([1.0], dtype=rg.float64) + rg.finfo(rg.float64).eps / 4).item() == 1.0


def test_finfo_default_and_aliases():
    assert rg.finfo() == rg.finfo(rg.float32) == rg.finfo(rg.float)
    assert rg.finfo(rg.double).dtype == "float64"
    assert rg.finfo(rg.float32) != rg.finfo(rg.float64)
    assert len({rg.finfo(rg.float32), rg.finfo()}) == 1


def test_iinfo_int64():
    ii = rg.iinfo(rg.int64)
    assert (ii.bits, ii.min, ii.max, ii.dtype) == (64, -(2 ** 63), 2 ** 63 - 1, "int64")
    assert rg.iinfo(rg.long) == ii
    assert rg.tensor([ii.max]).item() == ii.max and rg.tensor([ii.min]).item() == ii.min


def test_reprs():
    assert repr(rg.finfo(rg.float32)) == ("finfo(resolution=1e-06, min=-3.40282e+38, max=3.40282e+38, "
                                          "eps=1.19209e-07, smallest_normal=1.17549e-38, tiny=1.17549e-38, "
                                          "dtype=float32)")
    assert str(rg.iinfo(rg.int64)) == "iinfo(min=-9.22337e+18, max=9.22337e+18, dtype=int64)"


ERRORS = [
    (lambda lib: lib.finfo(lib.int64),
     "{lib}.finfo() requires a floating point input type. Use {lib}.iinfo to handle '{lib}.finfo'"),
    (lambda lib: lib.finfo(lib.bool),
     "{lib}.finfo() requires a floating point input type. Use {lib}.iinfo to handle '{lib}.finfo'"),
    (lambda lib: lib.iinfo(lib.float32),
     "{lib}.iinfo() requires an integer input type. Use {lib}.finfo to handle '{lib}.iinfo'"),
    (lambda lib: lib.iinfo(lib.bool), "{lib}.bool is not supported by {lib}.iinfo"),
    (lambda lib: lib.finfo("x"), "finfo(): argument 'type' (position 1) must be {lib}.dtype, not str"),
    (lambda lib: lib.iinfo(3), "iinfo(): argument 'type' (position 1) must be {lib}.dtype, not int"),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors(i):
    fn, msg = ERRORS[i]
    with pytest.raises(TypeError, match=re.escape(msg.format(lib="rustgrad")) + "$"):
        fn(rg)


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors_are_pytorchs(i):
    torch = pytest.importorskip("torch")
    fn, msg = ERRORS[i]
    with pytest.raises(TypeError, match=re.escape(msg.format(lib="torch")) + "$"):
        fn(torch)


@pytest.mark.parametrize("name", ["float32", "float64"])
def test_finfo_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    a, b = rg.finfo(getattr(rg, name)), torch.finfo(getattr(torch, name))
    for attr in FLOAT_ATTRS:
        assert getattr(a, attr) == getattr(b, attr), attr
    assert repr(a) == repr(b)


def test_iinfo_matches_pytorch():
    torch = pytest.importorskip("torch")
    a, b = rg.iinfo(rg.int64), torch.iinfo(torch.int64)
    assert (a.bits, a.min, a.max, a.dtype, repr(a)) == (b.bits, b.min, b.max, b.dtype, repr(b))
