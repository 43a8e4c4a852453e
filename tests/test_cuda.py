"""The CUDA device API and backend.

Two parts:
* GPU-free checks, run everywhere: the device API answers without a crash where no GPU can be
  used, and moving to the GPU raises a RuntimeError that names what is missing.
* Tests marked ``cuda`` (``pytest -m cuda``), skipped where ``rustgrad.cuda.is_available()`` is
  False: every op's forward and backward on the GPU against our CPU result, and against PyTorch
  (on its GPU when it has one) when torch imports; odd shapes (1, 7, 33, 1000, non-multiples of
  the GEMM tiles); the device API on a real device; the seed ConvNet trained 50 steps on the GPU
  with the loss curve matching the CPU run. They also run on the CPU emulator of the CUDA backend
  (a test build with the ``cuda-emu`` feature).
"""

import gc

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
import rustgrad.nn.functional as F

HAS_CUDA = rg.cuda.is_available()
IS_EMULATOR = bool(getattr(rg._C, "_cuda_is_emulator", lambda: False)())
cuda = pytest.mark.cuda
needs_gpu = pytest.mark.skipif(not HAS_CUDA, reason="no usable CUDA device: " + (
    "" if HAS_CUDA else rg.cuda._unavailable_reason()))
no_gpu = pytest.mark.skipif(HAS_CUDA, reason="a CUDA device is usable here")

try:
    import torch
    import torch.nn.functional as TF
except Exception:  # noqa: BLE001 - torch is optional; any import failure means "no torch"
    torch = None
TORCH_DEVICE = None
if torch is not None:
    TORCH_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


# ----- GPU-free checks ---------------------------------------------------------------------------

def test_queries_answer_without_a_crash():
    assert isinstance(rg.cuda.is_available(), bool)
    assert isinstance(rg.cuda.device_count(), int)
    assert rg.cuda.device_count() >= (1 if HAS_CUDA else 0)
    assert isinstance(rg.cuda.memory_allocated(), int)
    rg.cuda.manual_seed(3)
    rg.cuda.manual_seed_all(3)


def test_device_objects():
    d = rg.device("cuda:0")
    assert d.type == "cuda" and d.index == 0 and str(d) == "cuda:0"
    assert rg.device("cuda").index is None and rg.device("cuda").type == "cuda"
    assert rg.device("cuda", 1) == rg.device("cuda:1")
    assert rg.device("cpu").type == "cpu"
    assert rg.device("cuda:0") != rg.device("cpu")
    with pytest.raises(RuntimeError):
        rg.device("gpu:0")


def test_allow_tf32_defaults_to_false_and_can_be_set():
    m = rg.backends.cuda.matmul
    assert m.allow_tf32 is False
    try:
        m.allow_tf32 = True
        assert m.allow_tf32 is True
    finally:
        m.allow_tf32 = False
    assert m.allow_tf32 is False


@no_gpu
def test_cuda_without_a_gpu_raises_a_clear_error():
    assert rg.cuda.is_available() is False
    assert rg.cuda.device_count() == 0
    assert rg.cuda.memory_allocated(0) == 0
    reason = rg.cuda._unavailable_reason()
    assert any(w in reason for w in ("driver", "NVRTC", "device", "not compiled")), reason
    t = rg.ones(3)
    for move in (lambda: t.cuda(), lambda: t.to("cuda"), lambda: t.to(rg.device("cuda:0")),
                 lambda: rg.zeros(2, device="cuda"), lambda: rg.tensor([1.0], device="cuda:0"),
                 lambda: nn.Linear(2, 2).cuda(), lambda: rg.cuda.current_device(),
                 lambda: rg.cuda.synchronize(), lambda: rg.cuda.get_device_name()):
        with pytest.raises(RuntimeError) as e:
            move()
        assert any(w in str(e.value) for w in ("driver", "NVRTC", "device", "CUDA")), str(e.value)
    # The CPU keeps working after the failed moves.
    assert (t + 1).sum().item() == 6.0


@no_gpu
def test_driver_missing_message_says_how_to_fix():
    reason = rg.cuda._unavailable_reason()
    if "driver" in reason:
        assert "NVIDIA" in reason or "libcuda" in reason, reason
    elif "NVRTC" in reason:
        assert "nvidia-cuda-nvrtc" in reason, reason


def test_kernels_compile_with_the_installed_nvrtc():
    """GPU-free: NVRTC (from the nvidia-cuda-nvrtc package) compiles every kernel file to PTX."""
    if not hasattr(rg._C, "_cuda_nvrtc_info") or IS_EMULATOR:
        pytest.skip("no CUDA backend in this build")
    try:
        path, version = rg._C._cuda_nvrtc_info()
    except RuntimeError as e:
        assert "nvidia-cuda-nvrtc" in str(e)
        pytest.skip(f"NVRTC not installed: {e}")
    assert version[0] >= 12
    failures = [f"{name} sm_{arch}: {err}" for name, arch, err in rg._C._cuda_compile_kernels([80]) if err]
    assert not failures, "\n".join(failures)


# ----- with a GPU ----------------------------------------------------------------------------------

GPU = "cuda:0"


def rng(seed):
    return np.random.default_rng(seed)


def to_np(t):
    return t.detach().cpu().numpy()


def assert_close(ours, ref, rtol, atol, what):
    a, b = np.asarray(ours), np.asarray(ref)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    if a.dtype == np.bool_ or np.issubdtype(a.dtype, np.integer):
        np.testing.assert_array_equal(a, b, err_msg=what)
    else:
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def make_inputs(specs, seed):
    """numpy arrays from specs: a shape tuple (float32 normal), ('pos', shape) (positive floats),
    ('const', shape) (positive floats that take no gradient: a class weight), ('int', high, shape)
    (int64 in [0, high)), ('bool', shape). Float arrays are leaves that require grad, except
    'const' ones (returned as read-only arrays)."""
    r = rng(seed)
    out = []
    for s in specs:
        if isinstance(s, tuple) and s and isinstance(s[0], str):
            kind = s[0]
            if kind in ("pos", "const"):
                a = (np.abs(r.standard_normal(s[1])) + 0.2).astype(np.float32)
                if kind == "const":
                    a.setflags(write=False)
                out.append(a)
            elif kind == "int":
                out.append(r.integers(0, s[1], size=s[2]).astype(np.int64))
            elif kind == "bool":
                out.append(r.standard_normal(s[1]) > 0)
            else:
                raise ValueError(kind)
        else:
            out.append(r.standard_normal(s).astype(np.float32))
    return out


def run(lib, fn, arrays, device, weights_seed=7):
    """Forward with leaves on `device`, then backward of a random weighting of the output.
    Returns (output, grads) as numpy."""
    def grad(a):
        return a.dtype == np.float32 and a.flags.writeable

    if lib is rg:
        leaves = [rg.tensor(np.array(a), device=device, requires_grad=grad(a)) for a in arrays]
        mod, fmod = rg, F
    else:
        leaves = [torch.tensor(np.array(a), device=device, requires_grad=grad(a)) for a in arrays]
        mod, fmod = torch, TF
    out = fn(mod, fmod, *leaves)
    if isinstance(out, tuple):
        out = out[0]
    grads = []
    if out.dtype in (rg.float32, rg.float64) if lib is rg else out.is_floating_point():
        if out.requires_grad:
            w = rng(weights_seed).standard_normal(tuple(out.shape)).astype(np.float32)
            w = (rg.tensor(w, device=device) if lib is rg else torch.tensor(w, device=device))
            (out * w).sum().backward()
            grads = [None if t.grad is None else to_np(t.grad) for t in leaves]
    return to_np(out), grads


# (name, fn(lib, F, *inputs), input specs, rtol/atol against the CPU)
OPS = []


def op(name, specs, tol=(1e-4, 1e-5)):
    def deco(fn):
        OPS.append(pytest.param(fn, specs, tol, id=name))
        return fn
    return deco


for shape in [(1,), (7,), (33,), (1000,), (7, 33)]:
    op(f"relu{shape}", [shape])(lambda m, F, x: x.relu())
    op(f"exp{shape}", [shape])(lambda m, F, x: x.exp())
    op(f"log{shape}", [("pos", shape)])(lambda m, F, x: x.log())
    op(f"sqrt{shape}", [("pos", shape)])(lambda m, F, x: x.sqrt())
    op(f"tanh{shape}", [shape])(lambda m, F, x: x.tanh())
    op(f"sigmoid{shape}", [shape])(lambda m, F, x: x.sigmoid())
    op(f"abs_neg{shape}", [shape])(lambda m, F, x: (-x).abs())
    op(f"gelu{shape}", [shape])(lambda m, F, x: F.gelu(x))
    op(f"leaky_relu{shape}", [shape])(lambda m, F, x: F.leaky_relu(x, 0.1))
    op(f"pow_scalar{shape}", [shape])(lambda m, F, x: x ** 3)
    op(f"clamp{shape}", [shape])(lambda m, F, x: x.clamp(-0.5, 0.7))
op("tanh_transposed", [(33, 7)])(lambda m, F, x: x.t().tanh())

for sa, sb in [((1,), (1,)), ((1000,), (1,)), ((7, 1), (1, 33)), ((3, 1, 5), (4, 1)), ((2, 7, 33), (33,))]:
    op(f"add{sa}{sb}", [sa, sb])(lambda m, F, a, b: a + b)
    op(f"sub{sa}{sb}", [sa, sb])(lambda m, F, a, b: a - b)
    op(f"mul{sa}{sb}", [sa, sb])(lambda m, F, a, b: a * b)
    op(f"div{sa}{sb}", [sa, ("pos", sb)])(lambda m, F, a, b: a / b)
    op(f"pow{sa}{sb}", [("pos", sa), sb])(lambda m, F, a, b: a ** b)
    op(f"maximum{sa}{sb}", [sa, sb])(lambda m, F, a, b: m.maximum(a, b))
    op(f"lt{sa}{sb}", [sa, sb])(lambda m, F, a, b: a < b)
op("where", [("bool", (7, 33)), (7, 33), (33,)])(lambda m, F, c, a, b: m.where(c, a, b))
op("int64_arith", [("int", 50, (7, 33)), ("int", 50, (33,))])(lambda m, F, a, b: a * b + a // (b + 1))

for shape in [(1,), (7,), (1000,), (7, 33), (3, 7, 33)]:
    op(f"sum{shape}", [shape])(lambda m, F, x: x.sum())
    op(f"mean{shape}", [shape])(lambda m, F, x: x.mean())
    op(f"max{shape}", [shape])(lambda m, F, x: x.max())
    for d in range(len(shape)):
        op(f"sum_dim{d}{shape}", [shape])(lambda m, F, x, d=d: x.sum(d))
        op(f"mean_dim{d}_keep{shape}", [shape])(lambda m, F, x, d=d: x.mean(d, keepdim=True))
        op(f"max_dim{d}{shape}", [shape])(lambda m, F, x, d=d: x.max(d)[0])
        op(f"max_dim_idx{d}{shape}", [shape])(lambda m, F, x, d=d: x.max(d)[1])
        op(f"argmax{d}{shape}", [shape])(lambda m, F, x, d=d: x.argmax(d))
op("sum_dims_0_2", [(3, 7, 33)])(lambda m, F, x: x.sum((0, 2)))
op("argmax_all", [(7, 33)])(lambda m, F, x: x.argmax())

for shape, dims in [((1,), [0]), ((7, 33), [0, 1]), ((3, 1000), [1]), ((2, 7, 5), [0, 2])]:
    for d in dims:
        op(f"softmax{d}{shape}", [shape])(lambda m, F, x, d=d: F.softmax(x * 3, dim=d))
        op(f"log_softmax{d}{shape}", [shape])(lambda m, F, x, d=d: F.log_softmax(x * 3, dim=d))

for sa, sb in [((1, 1), (1, 1)), ((7, 33), (33, 1)), ((33, 65), (65, 67)), ((130, 70), (70, 129)),
               ((1, 1000), (1000, 7)), ((33,), (33, 7)), ((7, 33), (33,)), ((3, 7, 33), (3, 33, 5)),
               ((2, 1, 7, 9), (3, 9, 4)), ((200, 77), (77, 150))]:
    op(f"matmul{sa}{sb}", [sa, sb], (1e-4, 1e-4))(lambda m, F, a, b: a @ b)
op("matmul_transposed", [(65, 33), (67, 65)], (1e-4, 1e-4))(lambda m, F, a, b: a.t() @ b.t())
op("bmm_transposed", [(3, 9, 7), (3, 9, 5)], (1e-4, 1e-4))(lambda m, F, a, b: a.transpose(1, 2) @ b)
op("linear", [(7, 33), (65, 33), (65,)], (1e-4, 1e-4))(lambda m, F, x, w, b: F.linear(x, w, b))

CONVS = [  # (x shape, w shape, stride, padding, dilation, groups, bias)
    ((1, 1, 1, 1), (1, 1, 1, 1), 1, 0, 1, 1, False),
    ((2, 1, 7, 7), (4, 1, 3, 3), 1, 1, 1, 1, True),
    ((1, 3, 9, 11), (5, 3, 3, 2), (2, 3), (1, 0), 1, 1, True),
    ((2, 4, 8, 7), (6, 2, 3, 3), 1, 2, (2, 1), 2, True),
    ((1, 6, 5, 5), (6, 1, 3, 3), 1, "same", 1, 6, False),
    ((3, 2, 6, 5), (3, 2, 2, 2), 1, "valid", 1, 1, True),
    ((2, 32, 14, 14), (64, 32, 3, 3), 1, 1, 1, 1, True),  # the seed's conv2 at 14x14
    ((2, 1, 28, 28), (32, 1, 3, 3), 1, 1, 1, 1, True),  # the seed's conv1
]
for i, (xs, ws, s, p, d, g, b) in enumerate(CONVS):
    specs = [xs, ws] + ([(ws[0],)] if b else [])
    op(f"conv2d_{i}", specs, (1e-4, 1e-4))(
        lambda m, F, x, w, *bias, s=s, p=p, d=d, g=g: F.conv2d(x, w, bias[0] if bias else None, s, p, d, g))

for i, (xs, ws, s, p, opad, g, d) in enumerate([((2, 3, 4, 5), (3, 2, 3, 3), 1, 0, 0, 1, 1),
                                              ((2, 4, 5, 4), (4, 3, 3, 2), (2, 3), (1, 0), (1, 2), 1, 1),
                                              ((1, 4, 3, 3), (4, 2, 3, 3), 2, 1, 0, 2, (2, 1)),
                                              ((2, 64, 7, 7), (64, 32, 4, 4), 2, 1, 0, 1, 1)]):
    op(f"conv_transpose2d_{i}", [xs, ws, (ws[1] * g,)], (1e-4, 1e-4))(
        lambda m, F, x, w, b, s=s, p=p, opad=opad, g=g, d=d: F.conv_transpose2d(x, w, b, s, p, opad, g, d))

for i, (k, s, p, d, c) in enumerate([(2, 2, 0, 1, False), (3, 2, 1, 1, False), ((3, 2), (2, 3), 1, 1, True),
                                     (2, 1, 0, 2, False)]):
    op(f"max_pool2d_{i}", [(2, 3, 9, 11)])(lambda m, F, x, k=k, s=s, p=p, d=d, c=c: F.max_pool2d(x, k, s, p, d, c))
    op(f"max_pool2d_idx_{i}", [(2, 3, 9, 11)])(
        lambda m, F, x, k=k, s=s, p=p, d=d, c=c: F.max_pool2d(x, k, s, p, d, c, return_indices=True)[1])
    if d == 1:
        op(f"avg_pool2d_{i}", [(2, 3, 9, 11)])(lambda m, F, x, k=k, s=s, p=p, c=c: F.avg_pool2d(x, k, s, p, c))
        op(f"avg_pool2d_nopad_{i}", [(2, 3, 9, 11)])(
            lambda m, F, x, k=k, s=s, p=p, c=c: F.avg_pool2d(x, k, s, p, c, count_include_pad=False))
op("adaptive_avg_pool2d", [(2, 3, 7, 9)])(lambda m, F, x: F.adaptive_avg_pool2d(x, (3, 4)))

for red in ["mean", "sum", "none"]:
    op(f"cross_entropy_{red}", [(7, 5), ("int", 5, (7,))])(lambda m, F, x, y, r=red: F.cross_entropy(x, y, reduction=r))
    op(f"cross_entropy_weight_{red}", [(7, 5), ("int", 5, (7,)), ("const", (5,))])(
        lambda m, F, x, y, w, r=red: F.cross_entropy(x, y, weight=w, reduction=r))
    op(f"cross_entropy_smooth_{red}", [(7, 5), ("int", 5, (7,))])(
        lambda m, F, x, y, r=red: F.cross_entropy(x, y, reduction=r, label_smoothing=0.1, ignore_index=2))
op("cross_entropy_1000_classes", [(3, 1000), ("int", 1000, (3,))])(lambda m, F, x, y: F.cross_entropy(x, y))
op("cross_entropy_spatial", [(2, 3, 4, 5), ("int", 3, (2, 4, 5))])(lambda m, F, x, y: F.cross_entropy(x, y))
op("cross_entropy_probs", [(7, 5), (7, 5)])(lambda m, F, x, p: F.cross_entropy(x, p.softmax(1)))
op("nll_loss", [(7, 5), ("int", 5, (7,))])(lambda m, F, x, y: F.nll_loss(F.log_softmax(x, 1), y))
op("mse_loss", [(7, 5), (7, 5)])(lambda m, F, x, y: F.mse_loss(x, y))

for xs, ns in [((7, 33), (33,)), ((2, 3, 1000), (3, 1000)), ((1, 1), (1,))]:
    op(f"layer_norm{xs}", [xs, ns, ns])(lambda m, F, x, w, b, ns=ns: F.layer_norm(x, ns, w, b))
    op(f"layer_norm_plain{xs}", [xs])(lambda m, F, x, ns=ns: F.layer_norm(x, ns))
op("embedding", [(9, 33), ("int", 9, (7, 5))])(lambda m, F, w, i: F.embedding(i, w, padding_idx=2))

# Ops built in Python from the ones above (no kernels of their own): their device paths.
op("cumsum", [(7, 33)])(lambda m, F, x: x.cumsum(1) + x.cumsum(0))
op("fmod_remainder", [(7, 33), ("pos", (33,))])(lambda m, F, a, b: m.fmod(a * 3, b) + (a * 3).remainder(b))
for p in (1, 2, 3, float("inf")):
    op(f"norm_{p}", [(7, 33)])(lambda m, F, x, p=p: x.norm(p, dim=1))
op("prod_dim", [(7, 5)])(lambda m, F, x: x.prod(1))
op("einsum_bmm", [(3, 7, 5), (3, 5, 4)])(lambda m, F, a, b: m.einsum("bij,bjk->bik", a, b))
op("cdist", [(7, 5), (9, 5)])(lambda m, F, a, b: m.cdist(a, b))
op("group_norm", [(2, 6, 5, 4), (6,), (6,)])(lambda m, F, x, w, b: F.group_norm(x, 3, w, b))
op("conv1d", [(2, 3, 17), (4, 3, 3), (4,)])(lambda m, F, x, w, b: F.conv1d(x, w, b, padding=1))
op("grid_sample", [(2, 3, 5, 6), (2, 4, 4, 2)])(
    lambda m, F, x, g: F.grid_sample(x, g.tanh(), align_corners=False))
op("median_dim", [(7, 33)])(lambda m, F, x: x.median(1)[0])
op("quantile", [(7, 33)])(lambda m, F, x: m.quantile(x, 0.3, dim=1))
op("roll_tril", [(7, 33)])(lambda m, F, x: m.tril(x.roll(2, 1)))
op("smooth_l1_kl_div", [(7, 5), (7, 5)])(
    lambda m, F, x, y: F.smooth_l1_loss(x, y) + F.kl_div(x.log_softmax(1), y.softmax(1), reduction="batchmean"))
op("pixel_shuffle", [(2, 8, 3, 3)])(lambda m, F, x: F.pixel_shuffle(x, 2))
op("adaptive_max_pool2d", [(2, 3, 7, 9)])(lambda m, F, x: F.adaptive_max_pool2d(x, (3, 4)))
op("unfold", [(2, 3, 6, 5)])(lambda m, F, x: F.unfold(x, 2, padding=1))
op("sdpa_causal", [(2, 3, 7, 8), (2, 3, 7, 8), (2, 3, 7, 8)])(
    lambda m, F, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True))

op("gather", [(7, 33), ("int", 33, (7, 9))])(lambda m, F, x, i: x.gather(1, i))
op("scatter_add", [(7, 33), ("int", 33, (7, 9)), (7, 9)])(lambda m, F, x, i, s: x.scatter_add(1, i, s))
op("index_select", [(7, 33), ("int", 7, (5,))])(lambda m, F, x, i: x.index_select(0, i))
op("advanced_index", [(7, 33), ("int", 7, (5,))])(lambda m, F, x, i: x[i])
op("index_slice_tensor", [(7, 33), ("int", 33, (5,))])(lambda m, F, x, i: x[1::2, i])
op("index_add", [(7, 33), ("int", 7, (5,)), (5, 33)])(lambda m, F, x, i, v: x.index_add(0, i, v))
op("cast_to_f64", [(7, 33)])(lambda m, F, x: x.t().double() * 2)
op("cast_to_int", [(7, 33)])(lambda m, F, x: (x * 10).long())
op("contiguous_permuted", [(2, 3, 4, 5)])(lambda m, F, x: x.permute(3, 1, 0, 2).contiguous())
op("cat_stack", [(7, 33), (2, 33)])(lambda m, F, a, b: m.cat([a, b]) * m.stack([a[:2], b], 1).sum(1).sum())
op("masked_fill", [(7, 33), ("bool", (7, 33))])(lambda m, F, x, c: x.masked_fill(c, -1.5))


@cuda
@needs_gpu
@pytest.mark.parametrize("fn,specs,tol", OPS)
def test_op_on_gpu_matches_cpu(fn, specs, tol):
    arrays = make_inputs(specs, seed=len(specs) * 31 + sum(len(str(s)) for s in specs))
    out_c, grads_c = run(rg, fn, arrays, "cpu")
    out_g, grads_g = run(rg, fn, arrays, GPU)
    assert_close(out_g, out_c, tol[0], tol[1], "forward vs our CPU")
    assert len(grads_g) == len(grads_c)
    for i, (a, b) in enumerate(zip(grads_g, grads_c)):
        assert (a is None) == (b is None), f"grad {i}"
        if a is not None:
            assert_close(a, b, tol[0], tol[1], f"grad {i} vs our CPU")
    if torch is not None:
        out_t, grads_t = run(torch, fn, arrays, TORCH_DEVICE)
        assert_close(out_g, out_t, 1e-3, 1e-4, f"forward vs torch ({TORCH_DEVICE})")
        for i, (a, b) in enumerate(zip(grads_g, grads_t)):
            if a is not None and b is not None:
                assert_close(a, b, 1e-3, 1e-4, f"grad {i} vs torch ({TORCH_DEVICE})")


@cuda
@needs_gpu
def test_device_api_on_gpu():
    x = rg.randn(7, 33)
    g = x.cuda()
    assert g.device == rg.device("cuda:0") and g.is_cuda and str(g.device) == "cuda:0"
    assert g.get_device() == 0
    assert x.to("cuda").device.type == "cuda"
    assert x.to(rg.device("cuda", 0)).device.index == 0
    assert x.to(g).device == g.device
    assert g.cpu().device == rg.device("cpu") and not g.cpu().is_cuda
    np.testing.assert_array_equal(g.cpu().numpy(), x.numpy())
    assert g.to("cuda:0", rg.float64).dtype == rg.float64
    assert rg.cuda.current_device() == 0
    assert rg.cuda.device_count() >= 1
    assert isinstance(rg.cuda.get_device_name(0), str)
    assert g.tolist() == x.tolist()
    assert g.sum().item() == pytest.approx(x.sum().item(), rel=1e-5)
    print(g)  # printing reads through the host


@cuda
@needs_gpu
@pytest.mark.parametrize("factory", [
    lambda d: rg.zeros(7, 33, device=d), lambda d: rg.ones(7, device=d), lambda d: rg.full((3, 2), 2.5, device=d),
    lambda d: rg.empty(5, device=d), lambda d: rg.randn(33, device=d), lambda d: rg.rand(33, device=d),
    lambda d: rg.randint(0, 10, (33,), device=d), lambda d: rg.arange(0, 10, 3, device=d),
    lambda d: rg.tensor([[1.0, 2.0]], device=d), lambda d: rg.eye(3, device=d),
    lambda d: rg.linspace(0, 1, 7, device=d), lambda d: rg.zeros_like(rg.ones(2), device=d),
    lambda d: rg.ones_like(rg.ones(2, device=d)), lambda d: rg.randn_like(rg.ones(2, device=d)),
    lambda d: rg.full_like(rg.ones(2, device=d), 3.0), lambda d: rg.ones(2).new_zeros(3, device=d),
])
def test_factories_take_device(factory):
    t = factory(GPU)
    assert t.device == rg.device("cuda:0"), t.device
    c = factory("cpu")
    if "rand" not in repr(factory.__code__.co_names):
        assert t.shape == c.shape


@cuda
@needs_gpu
def test_random_is_reproducible_and_matches_the_cpu():
    rg.cuda.manual_seed(123)
    a = rg.randn(1000, device=GPU)
    rg.manual_seed(123)
    b = rg.randn(1000, device=GPU)
    np.testing.assert_array_equal(a.cpu().numpy(), b.cpu().numpy())
    rg.manual_seed(123)
    c = rg.randn(1000)
    np.testing.assert_allclose(a.cpu().numpy(), c.numpy(), rtol=1e-6, atol=1e-6)


@cuda
@needs_gpu
def test_mixing_devices_raises_pytorchs_message():
    g, c = rg.ones(3, device=GPU), rg.ones(3)
    msg = "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!"
    for f in (lambda: g + c, lambda: c * g, lambda: rg.ones(2, 3, device=GPU) @ rg.ones(3, 2),
              lambda: F.linear(rg.ones(2, 3, device=GPU), rg.ones(4, 3)),
              lambda: F.cross_entropy(rg.ones(2, 3, device=GPU), rg.tensor([0, 1]))):
        with pytest.raises(RuntimeError) as e:
            f()
        assert str(e.value) == msg


@cuda
@needs_gpu
def test_out_of_memory_is_a_runtime_error():
    with pytest.raises(RuntimeError) as e:
        rg.empty(1 << 42, device=GPU)  # 16 TiB
    assert str(e.value).startswith("CUDA out of memory. Tried to allocate"), str(e.value)
    # The device still works.
    assert rg.ones(3, device=GPU).sum().item() == 3.0


@cuda
@needs_gpu
def test_bad_target_is_an_index_error_at_the_next_sync():
    x = rg.randn(4, 5, device=GPU)
    y = rg.tensor([0, 5, 1, 1], device=GPU)
    with pytest.raises(IndexError) as e:
        F.cross_entropy(x, y).item()
        rg.cuda.synchronize()
    assert "Target 5 is out of bounds." in str(e.value)
    rg.cuda.synchronize()
    assert rg.ones(2, device=GPU).sum().item() == 2.0


@cuda
@needs_gpu
def test_memory_allocated_follows_tensors():
    gc.collect()
    rg.cuda.synchronize()
    before = rg.cuda.memory_allocated()
    t = rg.empty(1 << 20, device=GPU)
    assert rg.cuda.memory_allocated() >= before + 4 * (1 << 20)
    assert rg.cuda.max_memory_allocated() >= 4 * (1 << 20)
    del t
    gc.collect()
    assert rg.cuda.memory_allocated() == before


@cuda
@needs_gpu
def test_tf32_matmul_is_close_and_off_by_default():
    a, b = rg.randn(256, 300, device=GPU), rg.randn(300, 130, device=GPU)
    exact = (a.cpu().double() @ b.cpu().double()).numpy()
    assert rg.backends.cuda.matmul.allow_tf32 is False
    np.testing.assert_allclose((a @ b).cpu().numpy(), exact, rtol=1e-4, atol=1e-3)
    try:
        rg.backends.cuda.matmul.allow_tf32 = True
        tf = (a @ b).cpu().numpy()
    finally:
        rg.backends.cuda.matmul.allow_tf32 = False
    np.testing.assert_allclose(tf, exact, rtol=2e-2, atol=0.2)


class ConvNet(nn.Module):
    """The seed ConvNet (shared/seed_programs/convnet.py)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(x, 2)
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = x.view(-1, 64 * 7 * 7)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


def train_convnet(device, steps, batch=32, opt="sgd"):
    rg.manual_seed(0)
    net = ConvNet().to(device)
    assert all(p.device.type == rg.device(device).type for p in net.parameters())
    if opt == "sgd":
        optim = rg.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    else:
        optim = rg.optim.Adam(net.parameters(), lr=1e-3)
    r = rng(1)
    images = r.standard_normal((4, batch, 1, 28, 28)).astype(np.float32)
    labels = r.integers(0, 10, size=(4, batch))
    # Make the labels learnable: the class shifts the image's mean.
    images += (labels[..., None, None, None] - 4.5).astype(np.float32) * 0.1
    xs = [rg.tensor(images[i], device=device) for i in range(4)]
    ys = [rg.tensor(labels[i], device=device) for i in range(4)]
    losses = []
    for step in range(steps):
        x, y = xs[step % 4], ys[step % 4]
        optim.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        optim.step()
        losses.append(loss.item())
    return np.array(losses), net


@cuda
@needs_gpu
def test_seed_convnet_trains_50_steps_on_gpu_like_cpu():
    cpu, _ = train_convnet("cpu", 50)
    gpu, net = train_convnet(GPU, 50)
    assert all(p.device == rg.device("cuda:0") for p in net.parameters())
    assert all(p.grad is None or p.grad.device == rg.device("cuda:0") for p in net.parameters())
    # Float32 sums in another order drift apart slowly (the settings keep training out of the
    # chaotic regime, where any rounding difference grows): tight early, looser late.
    np.testing.assert_allclose(gpu[:10], cpu[:10], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-4)
    assert gpu[-8:].mean() < 0.75 * gpu[:4].mean(), gpu
    net.cpu()
    assert all(p.device.type == "cpu" for p in net.parameters())


@cuda
@needs_gpu
def test_adam_on_gpu_params_matches_cpu():
    cpu, _ = train_convnet("cpu", 5, batch=8, opt="adam")
    gpu, _ = train_convnet(GPU, 5, batch=8, opt="adam")
    np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-5)


@cuda
@needs_gpu
@pytest.mark.skipif(torch is None, reason="needs torch")
def test_seed_convnet_matches_torch():
    """Same weights, same batch: our GPU loss and gradients against torch's (on its GPU when it
    has one)."""
    rg.manual_seed(0)
    net = ConvNet()
    tnet = torch.nn.Sequential(torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               torch.nn.Flatten(), torch.nn.Linear(3136, 128), torch.nn.ReLU(),
                               torch.nn.Linear(128, 10))
    ours = [net.conv1.weight, net.conv1.bias, net.conv2.weight, net.conv2.bias, net.fc1.weight, net.fc1.bias,
            net.fc2.weight, net.fc2.bias]
    with torch.no_grad():
        for p, q in zip(ours, tnet.parameters()):
            q.copy_(torch.tensor(p.detach().numpy()))
    net.cuda()
    tnet.to(TORCH_DEVICE)
    r = rng(2)
    x = r.standard_normal((64, 1, 28, 28)).astype(np.float32)
    y = r.integers(0, 10, size=64)
    loss = F.cross_entropy(net(rg.tensor(x, device=GPU)), rg.tensor(y, device=GPU))
    tloss = TF.cross_entropy(tnet(torch.tensor(x, device=TORCH_DEVICE)), torch.tensor(y, device=TORCH_DEVICE))
    loss.backward()
    tloss.backward()
    assert loss.item() == pytest.approx(tloss.item(), rel=1e-4)
    ours = [net.conv1.weight, net.conv1.bias, net.conv2.weight, net.conv2.bias, net.fc1.weight, net.fc1.bias,
            net.fc2.weight, net.fc2.bias]
    for p, q in zip(ours, tnet.parameters()):
        np.testing.assert_allclose(p.grad.cpu().numpy(), q.grad.cpu().numpy(), rtol=1e-3, atol=1e-5)


@cuda
@needs_gpu
def test_state_dict_round_trip_from_gpu(tmp_path):
    net = ConvNet().cuda()
    path = tmp_path / "net.pt"
    rg.save(net.state_dict(), str(path))
    other = ConvNet()
    other.load_state_dict(rg.load(str(path)))
    for (k, a), (_, b) in zip(net.state_dict().items(), other.state_dict().items()):
        np.testing.assert_array_equal(a.cpu().numpy(), b.numpy(), err_msg=k)
