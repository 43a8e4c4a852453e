"""No optional argument is silently ignored: a value that cannot be used raises TypeError (in
PyTorch's words where we write the check), and out= arguments receive the result.

The sweep calls every public function of rustgrad and rustgrad.nn.functional and every Tensor method
with each optional argument set to an object no argument can take, and requires an exception. The
only arguments allowed to take it are those whose value PyTorch's own Python code reads by its
truth (``inplace``, ``return_indices``, the deprecated ``size_average``/``reduce``, ...), listed below.
"""

import inspect
import warnings

import numpy as np
import pytest

import rustgrad
import rustgrad.nn.functional as F


class Bogus:
    """A value no argument accepts."""


# (function, argument) pairs where PyTorch takes any object too, by its truth or unchecked.
TRUTHY_IN_PYTORCH = {"inplace", "return_indices", "size_average", "reduce"}
ACCEPTED_AS_IN_PYTORCH = {
    ("F.gaussian_nll_loss", "full"),  # `if full:` in PyTorch's Python
    ("F.gumbel_softmax", "hard"),
    ("F.gumbel_softmax", "eps"),  # unused by PyTorch's gumbel_softmax too
    ("F.triplet_margin_with_distance_loss", "swap"),
}
# Setters of process-wide state are left out of the sweep (a value they accepted would stay set).
STATEFUL = ("set_", "use_deterministic_algorithms", "manual_seed", "seed")


def _base_calls():
    x = rustgrad.randn(3, 4, dtype=rustgrad.float64)
    x4 = rustgrad.randn(2, 3, 5, 5, dtype=rustgrad.float64)
    x3 = rustgrad.randn(2, 3, 8, dtype=rustgrad.float64)
    idx = rustgrad.tensor([0, 1, 2])
    return x, [[], [0], [1], [x], [x4], [x3], [x, x], [x, 0], [x, 1], [x, idx], [x4, 2], [x3, 2], [x, 0, idx],
               [x4, x4], [3], [(3, 4)], [x, (1,)], [x, x, x], [idx], [0, idx], [1, 0], [(4, 3)], [0, 1]]


def _optional_arguments(fn, skip_first):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None, []
    params = list(sig.parameters.values())[1 if skip_first else 0:]
    required = [p for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    optional = [p.name for p in params if p.default is not p.empty and not p.name.startswith("_")
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return len(required), optional


def _sweep():
    """(qualified name, argument, outcome) for every optional argument the sweep can reach."""
    x, candidates = _base_calls()
    spaces = [("Tensor.", rustgrad.Tensor, True), ("rustgrad.", rustgrad, False), ("F.", F, False)]
    results = []
    for prefix, space, is_method in spaces:
        for name in sorted(n for n in dir(space) if not n.startswith(("_",) + STATEFUL)):
            fn = getattr(space, name, None)
            if not callable(fn) or inspect.isclass(fn) or inspect.ismodule(fn):
                continue
            n_required, optional = _optional_arguments(fn, is_method)
            if not optional:
                continue
            call = (lambda *a, _n=name, **k: getattr(x.clone(), _n)(*a, **k)) if is_method else fn
            base = None
            for args in candidates:
                if len(args) != n_required:
                    continue
                try:
                    call(*args)
                except Exception:
                    continue
                base = args
                break
            if base is None:
                continue
            for arg in optional:
                try:
                    call(*base, **{arg: Bogus()})
                    outcome = "accepted"
                except Exception as e:  # any exception: the value was not used silently
                    outcome = type(e).__name__
                results.append((prefix + name, arg, outcome))
    return results


def test_no_optional_argument_takes_a_value_it_cannot_use():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = _sweep()
    # The sweep must reach a real share of the API, or it proves nothing.
    assert len(results) > 300, len(results)
    accepted = [(fn, arg) for fn, arg, outcome in results if outcome == "accepted"
                and arg not in TRUTHY_IN_PYTORCH and (fn, arg) not in ACCEPTED_AS_IN_PYTORCH]
    assert accepted == []
    # An inconvertible value is a TypeError (a few arguments name choices and raise ValueError or
    # RuntimeError as PyTorch does; an option rustgrad lacks raises NotImplementedError naming it),
    # never an AttributeError from deep inside.
    odd = [(fn, arg, outcome) for fn, arg, outcome in results
           if outcome not in ("accepted", "TypeError", "ValueError", "RuntimeError", "NotImplementedError")]
    assert odd == [("rustgrad.compile", "model", "AssertionError"),  # PyTorch's own assert
                   ("F.huber_loss", "weight", "AttributeError"),  # as PyTorch, which calls weight.size()
                   ("F.multi_margin_loss", "weight", "AttributeError")]  # as PyTorch: weight.dim()


# PyTorch's exact words for the checks written in Python.
MESSAGES = [
    (lambda x: x.sort(descending="yes"), "sort(): argument 'descending' must be bool, not str"),
    (lambda x: x.sort(stable=1), "sort(): argument 'stable' must be bool, not int"),
    (lambda x: x.argsort(stable=None), "argsort(): argument 'stable' must be bool, not NoneType"),
    (lambda x: x.topk(2, largest=None), "topk(): argument 'largest' must be bool, not NoneType"),
    (lambda x: x.topk(2, sorted=1), "topk(): argument 'sorted' must be bool, not int"),
    (lambda x: x.median(0, keepdim=1), "median(): argument 'keepdim' must be bool, not int"),
    (lambda x: x.nanmedian(0, keepdim=1), "nanmedian(): argument 'keepdim' must be bool, not int"),
    (lambda x: x.kthvalue(1, keepdim="a"), "kthvalue(): argument 'keepdim' must be bool, not str"),
    (lambda x: x.mode(0, keepdim=1), "mode(): argument 'keepdim' must be bool, not int"),
    (lambda x: x.nansum(0, keepdim="a"), "nansum(): argument 'keepdim' must be bool, not str"),
    (lambda x: x.nanmean(0, keepdim=1), "nanmean(): argument 'keepdim' must be bool, not int"),
    (lambda x: x.unique(sorted=1), "_unique2(): argument 'sorted' must be bool, not int"),
    (lambda x: x.unique(return_counts=1), "_unique2(): argument 'return_counts' must be bool, not int"),
    (lambda x: x.unique_consecutive(return_inverse=1),
     "unique_consecutive(): argument 'return_inverse' must be bool, not int"),
    (lambda x: x.type(rustgrad.float64, non_blocking=1), "type(): argument 'non_blocking' must be bool, not int"),
    (lambda x: rustgrad.tensordot(x, x.T, 1, out=3), "tensordot(): argument 'out' must be Tensor, not int"),
    (lambda x: rustgrad.zeros(3, out=5), "zeros(): argument 'out' must be Tensor, not int"),
    (lambda x: rustgrad.ones(3, layout=5), "ones(): argument 'layout' must be rustgrad.layout, not int"),
    (lambda x: rustgrad.repeat_interleave(x, 2, output_size=2.0),
     "repeat_interleave(): argument 'output_size' must be int, not float"),
    (lambda x: F.avg_pool1d(x, 2, ceil_mode=1), "avg_pool1d(): argument 'ceil_mode' must be bool, not int"),
    (lambda x: F.avg_pool2d(x.reshape(1, 3, 4), 2, count_include_pad=None),
     "avg_pool2d(): argument 'count_include_pad' must be bool, not NoneType"),
    (lambda x: F.max_pool1d(x, 2, ceil_mode=1), "max_pool1d(): argument 'ceil_mode' (position 6) must be bool, not int"),
    (lambda x: F.max_pool2d(x.reshape(1, 3, 4), 2, ceil_mode=1),
     "max_pool2d(): argument 'ceil_mode' (position 6) must be bool, not int"),
    (lambda x: F.dropout(x, training=1), "dropout(): argument 'train' (position 3) must be bool, not int"),
    (lambda x: F.batch_norm(x, None, None, training="yes"),
     "batch_norm(): argument 'training' (position 6) must be bool, not str"),
    (lambda x: F.instance_norm(x.reshape(1, 3, 4), use_input_stats=1),
     "instance_norm(): argument 'use_input_stats' (position 6) must be bool, not int"),
    (lambda x: F.instance_norm(x.reshape(1, 3, 4), running_mean=[0.0]),
     "instance_norm(): argument 'running_mean' (position 4) must be Tensor, not list"),
    (lambda x: F.group_norm(x, 1, weight=1.0), "group_norm(): argument 'weight' (position 3) must be Tensor, not float"),
    (lambda x: F.kl_div(x, x, reduction="sum", log_target=1), "kl_div(): argument 'log_target' must be bool, not int"),
    (lambda x: F.poisson_nll_loss(x, x, log_input=1), "poisson_nll_loss(): argument 'log_input' (position 3) must be bool, not int"),
    (lambda x: F.poisson_nll_loss(x, x, full=1), "poisson_nll_loss(): argument 'full' (position 4) must be bool, not int"),
    (lambda x: F.poisson_nll_loss(x, x, eps="1e-8"), "poisson_nll_loss(): argument 'eps' (position 5) must be float, not str"),
    (lambda x: F.triplet_margin_loss(x, x, x, swap=1),
     "triplet_margin_loss(): argument 'swap' (position 7) must be bool, not int"),
    (lambda x: F.scaled_dot_product_attention(x, x, x, is_causal=1),
     "scaled_dot_product_attention(): argument 'is_causal' must be bool, not int"),
    (lambda x: F.scaled_dot_product_attention(x, x, x, enable_gqa=1),
     "scaled_dot_product_attention(): argument 'enable_gqa' must be bool, not int"),
    (lambda x: F.scaled_dot_product_attention(x, x, x, attn_mask=[1]),
     "scaled_dot_product_attention(): argument 'attn_mask' must be Tensor, not list"),
]


@pytest.mark.parametrize("call, message", MESSAGES, ids=[m for _, m in MESSAGES])
def test_type_errors_use_pytorchs_words(call, message):
    x = rustgrad.randn(3, 4)
    with pytest.raises(TypeError) as info:
        call(x)
    assert str(info.value) == message


@pytest.mark.parametrize("call, message", MESSAGES, ids=[m for _, m in MESSAGES])
def test_pytorch_refuses_the_same_values(call, message):
    """PyTorch refuses the values above too: with the same words where its check is a plain type
    check, as an 'invalid combination of arguments' where the function is overloaded."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF

    as_torch = type(call)(call.__code__, {**call.__globals__, "rustgrad": torch, "F": TF})
    with pytest.raises(TypeError) as info:
        as_torch(torch.randn(3, 4))
    if "invalid combination of arguments" not in str(info.value):
        assert str(info.value).replace("torch.", "rustgrad.") == message


# ----- out= ---------------------------------------------------------------------------------------

def test_factories_write_into_out_and_return_it():
    out = rustgrad.empty(3, dtype=rustgrad.int64)
    result = rustgrad.zeros(3, out=out)
    assert result is out and out.dtype == rustgrad.int64 and out.tolist() == [0, 0, 0]
    view = out[:2]
    rustgrad.ones(3, out=out)
    assert view.tolist() == [1, 1], "same shape: written in place, views see it"
    grown = rustgrad.empty(2, 2)
    assert rustgrad.ones(5, out=grown) is grown and list(grown.shape) == [5]
    with pytest.raises(RuntimeError, match=r"^dtype Float does not match dtype of out parameter \(Long\)$"):
        rustgrad.zeros(3, dtype=rustgrad.float32, out=rustgrad.empty(3, dtype=rustgrad.int64))
    assert rustgrad.zeros(2, out=rustgrad.empty(2), requires_grad=True).requires_grad


def test_layout_and_pin_memory():
    assert repr(rustgrad.strided) == "rustgrad.strided" and isinstance(rustgrad.strided, rustgrad.layout)
    assert rustgrad.zeros(2, layout=rustgrad.strided).tolist() == [0.0, 0.0]
    if not rustgrad.cuda.is_available():
        with pytest.raises(RuntimeError, match="Found no NVIDIA driver"):
            rustgrad.empty(2, pin_memory=True)


def test_composite_ops_write_out():
    x = rustgrad.tensor([[3.0, 1.0, 2.0], [0.5, 4.0, 1.5]])
    out = rustgrad.empty(2)
    assert rustgrad.quantile(x, 0.5, dim=1, out=out) is out
    np.testing.assert_allclose(out.numpy(), [2.0, 1.5])
    assert rustgrad.nanquantile(x, 0.5, dim=1, out=out) is out
    with pytest.raises(RuntimeError, match=r"^quantile\(\) out tensor must be same dtype as the input tensor$"):
        rustgrad.quantile(x, 0.5, dim=1, out=rustgrad.empty(2, dtype=rustgrad.float64))

    out = rustgrad.empty(2, 2)
    assert rustgrad.tensordot(x, x.T, 1, out=out) is out
    np.testing.assert_allclose(out.numpy(), x.numpy() @ x.numpy().T, rtol=1e-6)
    with pytest.raises(RuntimeError, match="^tensordot: Expected the output tensor to have dtype Float, but got an "
                                           "output tensor with dtype Double$"):
        rustgrad.tensordot(x, x.T, 1, out=rustgrad.empty(2, 2, dtype=rustgrad.float64))

    out = rustgrad.empty(())
    assert rustgrad.linalg.vector_norm(x, out=out) is out
    assert abs(out.item() - float(np.linalg.norm(x.numpy()))) < 1e-5
    assert rustgrad.linalg.norm(x, out=out) is out and rustgrad.linalg.matrix_norm(x, out=out) is out
    with pytest.raises(RuntimeError, match="^Expected out tensor to have dtype float, but got double instead$"):
        rustgrad.linalg.vector_norm(x, out=rustgrad.empty((), dtype=rustgrad.float64))

    boundaries = rustgrad.tensor([1.0, 2.0, 3.0])
    out = rustgrad.empty(3, dtype=rustgrad.int64)
    assert rustgrad.searchsorted(boundaries, rustgrad.tensor([0.5, 2.5, 9.0]), out=out) is out
    assert out.tolist() == [0, 2, 3]
    assert rustgrad.bucketize(rustgrad.tensor([0.5, 2.5, 9.0]), boundaries, right=True, out=out) is out
    with pytest.raises(RuntimeError, match="output tensor's dtype is wrong"):
        rustgrad.searchsorted(boundaries, rustgrad.tensor([0.5]), out=rustgrad.empty(1))


def test_out_resizes_with_pytorchs_warning():
    x = rustgrad.tensor([[3.0, 1.0, 2.0], [0.5, 4.0, 1.5]])
    out = rustgrad.empty(5)
    with pytest.warns(UserWarning, match=r"An output with one or more elements was resized since it had shape \[5\]"):
        rustgrad.quantile(x, 0.5, dim=1, out=out)
    assert list(out.shape) == [2]
    empty = rustgrad.empty(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rustgrad.quantile(x, 0.5, dim=1, out=empty)  # an empty out is resized silently
    assert list(empty.shape) == [2]


def test_repeat_interleave_output_size_is_checked():
    x = rustgrad.tensor([1, 2])
    assert rustgrad.repeat_interleave(x, output_size=3).tolist() == [0, 1, 1]
    assert rustgrad.repeat_interleave(x, 2, output_size=4).tolist() == [1, 1, 2, 2]
    with pytest.raises(RuntimeError, match="^allocated size does not match required size$"):
        rustgrad.repeat_interleave(x, output_size=5)
    with pytest.raises(RuntimeError, match="^repeat_interleave: Invalid output_size, expected 4 but got 5$"):
        rustgrad.repeat_interleave(x, 2, output_size=5)


def test_out_variants_of_the_python_written_ops():
    x = rustgrad.tensor([[3.0, 1.0, 2.0], [0.5, 4.0, 1.5]])
    out = rustgrad.empty(3)
    assert rustgrad.amax(x, 0, out=out) is out and out.tolist() == [3.0, 4.0, 2.0]
    values, indices = rustgrad.empty(2, 3), rustgrad.empty(2, 3, dtype=rustgrad.int64)
    result = rustgrad.cummax(x, 1, out=(values, indices))
    assert result.values is values and result.indices is indices
    assert values.tolist() == [[3.0, 3.0, 3.0], [0.5, 4.0, 4.0]] and indices.tolist() == [[0, 0, 0], [0, 1, 1]]
    with pytest.raises(TypeError, match=r"^cummax\(\): argument 'out' must be tuple of 2 Tensors, not Tensor$"):
        rustgrad.cummax(x, 1, out=values)
    out = rustgrad.empty(2, 3)
    assert rustgrad.special.gammaln(x, out=out) is out
    np.testing.assert_allclose(out.numpy(), np.vectorize(__import__("math").lgamma)(x.numpy()), rtol=1e-6)
    assert rustgrad.polygamma(1, x, out=out) is out
    assert rustgrad.atan2(x, x, out=out) is out
    np.testing.assert_allclose(out.numpy(), np.full((2, 3), np.pi / 4), rtol=1e-6)
    with pytest.raises(RuntimeError, match="^Expected out tensor to have dtype float, but got long instead$"):
        rustgrad.atan2(x, x, out=rustgrad.empty(2, 3, dtype=rustgrad.int64))
