"""DLPack: zero-copy exchange with NumPy and PyTorch, both capsule kinds, lifetimes, errors."""

import ctypes
import gc

import numpy as np
import pytest

import rustgrad
from rustgrad.utils import dlpack as rg_dlpack

_capsule_name = ctypes.pythonapi.PyCapsule_GetName
_capsule_name.restype = ctypes.c_char_p
_capsule_name.argtypes = [ctypes.py_object]


def capsule_name(capsule):
    return _capsule_name(capsule).decode()


def test_dlpack_device():
    t = rustgrad.ones(2)
    assert t.__dlpack_device__() == (1, 0)
    assert t.__dlpack_device__()[0] is rg_dlpack.DLDeviceType.kDLCPU


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_from_numpy_shares_memory_both_ways(dtype):
    a = (np.arange(6) % 2 == 0) if dtype is np.bool_ else np.arange(6).astype(dtype)
    t = rustgrad.from_dlpack(a)
    assert t.dtype == rustgrad.tensor(a).dtype and t.tolist() == a.tolist()
    a[1] = 1
    assert bool(t[1].item()) if dtype is np.bool_ else t[1].item() == 1
    t[2] = 0
    assert not a[2] if dtype is np.bool_ else a[2] == 0


def test_numpy_views_keep_strides_and_offsets():
    a = np.arange(24.0).reshape(4, 6)
    view = a[1:, ::2].T
    t = rustgrad.from_dlpack(view)
    np.testing.assert_array_equal(t.numpy(), view)
    assert t.stride() == tuple(s // 8 for s in view.strides)
    t[0, 0] = -5.0
    assert a[1, 0] == -5.0


def test_rustgrad_to_numpy_shares_memory_and_keeps_views():
    base = rustgrad.arange(12.0).reshape(3, 4)
    view = base[1:, 1:3].t()
    a = np.from_dlpack(view)
    np.testing.assert_array_equal(a, view.numpy())
    assert a.strides == tuple(s * 4 for s in view.stride())
    base[2, 1] = 100.0
    assert a[0, 1] == 100.0
    a[1, 0] = -1.0
    assert base[1, 2].item() == -1.0


def test_memory_stays_alive_while_either_side_lives():
    t = rustgrad.arange(1000.0)
    a = np.from_dlpack(t)
    del t
    gc.collect()
    rustgrad.ones(1000) * 3  # reuse freed memory, if ours had been freed
    np.testing.assert_array_equal(a, np.arange(1000.0, dtype=np.float32))
    b = np.arange(1000.0)
    u = rustgrad.from_dlpack(b)
    del b
    gc.collect()
    np.ones(1000) * 3
    np.testing.assert_array_equal(u.numpy(), np.arange(1000.0))


def test_legacy_and_versioned_capsules():
    t = rustgrad.arange(4.0)
    legacy = rg_dlpack.to_dlpack(t)
    assert capsule_name(legacy) == "dltensor"
    u = rustgrad.from_dlpack(legacy)
    assert capsule_name(legacy) == "used_dltensor"
    u[0] = 7.0
    assert t[0].item() == 7.0
    with pytest.raises(TypeError, match="invalid capsule"):
        rustgrad.from_dlpack(legacy)
    versioned = t.__dlpack__(max_version=(1, 0))
    assert capsule_name(versioned) == "dltensor_versioned"
    assert rg_dlpack.from_dlpack(versioned).tolist() == [7.0, 1.0, 2.0, 3.0]
    assert capsule_name(versioned) == "used_dltensor_versioned"
    assert capsule_name(t.__dlpack__(max_version=(0, 8))) == "dltensor"
    unused = t.__dlpack__()
    del unused  # an unconsumed capsule frees its hold on the tensor
    gc.collect()


def test_export_errors_and_copies():
    w = rustgrad.ones(2, requires_grad=True)
    with pytest.raises(BufferError, match=r"^Can't export tensors that require gradient, use tensor.detach\(\)$"):
        w.__dlpack__()
    d = w.detach()
    np.from_dlpack(d)
    copy = np.from_dlpack(d, copy=True)
    copy[0] = 5.0
    assert d[0].item() == 1.0
    with pytest.raises(TypeError, match="stream must be"):
        d.__dlpack__(stream="s")
    with pytest.raises(AssertionError, match="stream should be None on cpu."):
        d.__dlpack__(stream=3)
    with pytest.raises(BufferError, match="without a copy"):
        d.__dlpack__(dl_device=(2, 0), copy=False)
    capsule = d.__dlpack__(dl_device=(1, 0), copy=False)
    assert rustgrad.from_dlpack(capsule).tolist() == [1.0, 1.0]


def test_import_errors():
    with pytest.raises(TypeError, match="invalid capsule"):
        rustgrad.from_dlpack(object())
    ro = np.arange(3.0)
    ro.flags.writeable = False
    with pytest.raises(BufferError):
        rustgrad.from_dlpack(ro)
    with pytest.raises(BufferError, match="dtype"):
        rustgrad.from_dlpack(np.arange(3, dtype=np.complex64))


def test_torch_both_ways():
    torch = pytest.importorskip("torch")
    for values in ([1.5, -2.0, 3.0], [1, 2, 3], [True, False, True]):
        t = rustgrad.tensor(values)
        theirs = torch.from_dlpack(t)
        assert theirs.tolist() == values
        theirs[0] = theirs[1]
        assert t[0].item() == values[1]
        back = rustgrad.from_dlpack(torch.tensor(values))
        assert back.tolist() == values
    x = torch.arange(12.0).reshape(3, 4)
    view = x[1:, 1:].t()
    ours = rustgrad.from_dlpack(view)
    assert ours.shape == view.shape and ours.stride() == view.stride()
    x[2, 3] = 50.0
    assert ours[2, 1].item() == 50.0
    theirs = torch.utils.dlpack.from_dlpack(rg_dlpack.to_dlpack(rustgrad.arange(3.0)))
    assert theirs.tolist() == [0.0, 1.0, 2.0]
    kept = torch.from_dlpack(rustgrad.arange(500.0))
    gc.collect()
    assert kept[499].item() == 499.0
    ref = torch.ones(2, requires_grad=True)
    with pytest.raises(BufferError) as theirs_error:
        ref.__dlpack__()
    with pytest.raises(BufferError) as ours_error:
        rustgrad.ones(2, requires_grad=True).__dlpack__()
    assert str(ours_error.value) == str(theirs_error.value)
    assert rustgrad.ones(1).__dlpack_device__() == torch.ones(1).__dlpack_device__()


@pytest.mark.cuda
@pytest.mark.skipif(not rustgrad.cuda.is_available(), reason="no usable CUDA device")
def test_cuda_tensors_share_device_memory():
    t = rustgrad.arange(6.0, device="cuda").reshape(2, 3)
    assert t.__dlpack_device__() == (2, 0)
    u = rustgrad.from_dlpack(t.__dlpack__(max_version=(1, 0)))
    assert u.device.type == "cuda" and u.tolist() == t.tolist()
    u[1, 2] = -1.0
    assert t[1, 2].item() == -1.0
    v = rustgrad.from_dlpack(rg_dlpack.to_dlpack(t.t()))
    assert v.stride() == (1, 3) and v[2, 1].item() == -1.0
