"""rustgrad.backends and the everyday switches: matmul precision, deterministic algorithms, the
default device, bfloat16 support, pinned memory and non_blocking copies, against PyTorch."""

import warnings

import pytest

import rustgrad

NO_CUDA = not rustgrad.cuda.is_available()


def test_backend_modules_and_queries():
    from rustgrad.backends import cpu, cuda, cudnn, mkldnn, mps, openmp  # noqa: F401

    assert rustgrad.backends.mps.is_available() is False and rustgrad.backends.mps.is_built() is False
    assert rustgrad.backends.mkldnn.is_available() is False
    assert rustgrad.backends.openmp.is_available() is False
    assert rustgrad.backends.cudnn.is_available() is False and rustgrad.backends.cudnn.version() is None
    assert rustgrad.backends.cuda.matmul.allow_fp16_reduced_precision_reduction is True
    assert rustgrad.backends.cuda.matmul.allow_bf16_reduced_precision_reduction is True
    for flag in ("enabled", "benchmark", "deterministic", "allow_tf32"):
        assert isinstance(getattr(rustgrad.backends.cudnn, flag), bool)


def test_cudnn_flags_default_as_pytorch_and_can_be_set():
    torch = pytest.importorskip("torch")
    for flag in ("enabled", "benchmark", "deterministic"):
        assert getattr(rustgrad.backends.cudnn, flag) == getattr(torch.backends.cudnn, flag)
    rustgrad.backends.cudnn.benchmark = True
    try:
        assert rustgrad.backends.cudnn.benchmark is True
    finally:
        rustgrad.backends.cudnn.benchmark = False


def test_cpu_capability_matches_pytorch():
    torch = pytest.importorskip("torch")
    assert rustgrad.backends.cpu.get_cpu_capability() == torch.backends.cpu.get_cpu_capability()


def test_float32_matmul_precision():
    assert rustgrad.get_float32_matmul_precision() == "highest"
    try:
        for precision, tf32 in (("high", True), ("medium", True), ("highest", False)):
            rustgrad.set_float32_matmul_precision(precision)
            assert rustgrad.get_float32_matmul_precision() == precision
            assert rustgrad.backends.cuda.matmul.allow_tf32 is tf32
        rustgrad.backends.cuda.matmul.allow_tf32 = True
        assert rustgrad.get_float32_matmul_precision() == "high"
    finally:
        rustgrad.set_float32_matmul_precision("highest")
    assert rustgrad.backends.cuda.matmul.allow_tf32 is False


def test_float32_matmul_precision_bad_values_as_pytorch():
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError) as theirs:
        torch.set_float32_matmul_precision(3)
    with pytest.raises(RuntimeError) as ours:
        rustgrad.set_float32_matmul_precision(3)
    assert str(ours.value) == str(theirs.value)
    with pytest.warns(UserWarning) as theirs:
        torch.set_float32_matmul_precision("fastest")
    with pytest.warns(UserWarning) as ours:
        rustgrad.set_float32_matmul_precision("fastest")
    assert str(ours[0].message) in str(theirs[0].message)
    assert rustgrad.get_float32_matmul_precision() == torch.get_float32_matmul_precision() == "highest"


def test_deterministic_algorithms():
    assert rustgrad.are_deterministic_algorithms_enabled() is False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the CUDA caveat, where there is a GPU
            rustgrad.use_deterministic_algorithms(True, warn_only=True)
        assert rustgrad.are_deterministic_algorithms_enabled() is True
        assert rustgrad.is_deterministic_algorithms_warn_only_enabled() is True
    finally:
        rustgrad.use_deterministic_algorithms(False)
    assert rustgrad.are_deterministic_algorithms_enabled() is False


def test_deterministic_algorithms_bad_mode_as_pytorch():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError) as theirs:
        torch.use_deterministic_algorithms("yes")
    with pytest.raises(TypeError) as ours:
        rustgrad.use_deterministic_algorithms("yes")
    assert str(ours.value) == str(theirs.value)


def test_default_device():
    assert rustgrad.get_default_device() == rustgrad.device("cpu")
    rustgrad.set_default_device("cpu")
    rustgrad.set_default_device(rustgrad.device("cpu"))
    rustgrad.set_default_device(None)
    assert rustgrad.get_default_device() == rustgrad.device("cpu")
    assert rustgrad.zeros(2).device.type == "cpu"
    with pytest.raises(NotImplementedError, match="a default device other than the CPU is not implemented yet"):
        rustgrad.set_default_device("cuda")
    with pytest.raises(RuntimeError):
        rustgrad.set_default_device("xyz")


def test_bf16_support_and_pinned_memory():
    torch = pytest.importorskip("torch")
    x = rustgrad.ones(2)
    assert x.is_pinned() is False
    if NO_CUDA:
        # As PyTorch on a machine without a GPU.
        assert rustgrad.cuda.is_bf16_supported() is False
        assert rustgrad.cuda.is_bf16_supported(including_emulation=False) is False
        if not torch.cuda.is_available():
            with pytest.raises(RuntimeError):
                torch.ones(2).pin_memory()
        with pytest.raises(RuntimeError, match="CUDA"):
            x.pin_memory()
    else:
        assert rustgrad.cuda.is_bf16_supported() is True
        major, _ = rustgrad.cuda.get_device_capability()
        assert rustgrad.cuda.is_bf16_supported(including_emulation=False) is (major >= 8)
        pinned = x.pin_memory()
        assert pinned.tolist() == [1.0, 1.0] and pinned.device.type == "cpu"
        pinned.add_(1)
        assert x.tolist() == [1.0, 1.0], "pin_memory gives a copy"


def test_non_blocking_is_accepted():
    x = rustgrad.ones(2)
    assert x.to("cpu", non_blocking=True).tolist() == [1.0, 1.0]
    assert x.to(rustgrad.float64, non_blocking=True).dtype == rustgrad.float64
    y = rustgrad.zeros(2)
    y.copy_(x, non_blocking=True)
    assert y.tolist() == [1.0, 1.0]
    if not NO_CUDA:
        assert x.cuda(non_blocking=True).device.type == "cuda"


def test_sdp_switches():
    torch = pytest.importorskip("torch")
    cuda = rustgrad.backends.cuda
    for name in ("flash", "mem_efficient", "math", "cudnn"):
        assert getattr(cuda, f"{name}_sdp_enabled")() is getattr(torch.backends.cuda, f"{name}_sdp_enabled")() is True
    cuda.enable_flash_sdp(False)
    try:
        assert cuda.flash_sdp_enabled() is False
    finally:
        cuda.enable_flash_sdp(True)
    with pytest.raises(NotImplementedError, match="the math kernel is the only"):
        cuda.enable_math_sdp(False)
    for name in ("flash", "cudnn"):
        with pytest.raises(RuntimeError) as theirs:
            getattr(torch.backends.cuda, f"enable_{name}_sdp")("yes")
        with pytest.raises(RuntimeError) as ours:
            getattr(cuda, f"enable_{name}_sdp")("yes")
        assert str(ours.value) == str(theirs.value)
    with pytest.warns(FutureWarning, match=r"`torch.backends.cuda.sdp_kernel\(\)` is deprecated"):
        with cuda.sdp_kernel(enable_flash=False, enable_mem_efficient=False):
            assert not cuda.flash_sdp_enabled() and not cuda.mem_efficient_sdp_enabled() and cuda.math_sdp_enabled()
    assert cuda.flash_sdp_enabled() and cuda.mem_efficient_sdp_enabled()
    # The only kernel rustgrad has keeps working with the others switched off.
    q = rustgrad.ones(1, 2, 3)
    with pytest.warns(FutureWarning):
        with cuda.sdp_kernel(enable_flash=False, enable_mem_efficient=False, enable_cudnn=False):
            out = rustgrad.nn.functional.scaled_dot_product_attention(q, q, q)
    assert out.shape == (1, 2, 3)


def test_pinned_memory_device_argument_is_checked_as_pytorch():
    torch = pytest.importorskip("torch")

    class Bogus:
        pass

    with pytest.raises(TypeError) as theirs:
        torch.ones(1).is_pinned(Bogus())
    with pytest.raises(TypeError) as ours:
        rustgrad.ones(1).is_pinned(Bogus())
    assert str(ours.value) == str(theirs.value)
    with pytest.warns(DeprecationWarning) as theirs:
        assert torch.ones(1).is_pinned("cpu") is False
    with pytest.warns(DeprecationWarning) as ours:
        assert rustgrad.ones(1).is_pinned("cpu") is False
    assert str(ours[0].message) == str(theirs[0].message).split(" (Triggered")[0]
    with pytest.raises(TypeError):
        rustgrad.ones(1).pin_memory(Bogus())
