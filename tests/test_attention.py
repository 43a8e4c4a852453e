"""Attention and transformer layers: scaled_dot_product_attention against a NumPy reference in
float64, gradients against finite differences, PyTorch's errors word for word, and (when torch is
installed) MultiheadAttention and the Transformer modules against PyTorch's with the same weights:
outputs, attention weights and the gradients of inputs and parameters."""

import copy
import math
import re
import warnings
from functools import partial

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
import rustgrad.nn.functional as F
from rustgrad.autograd import gradcheck

from op_testing import random_array, t64
from op_testing import seed  # noqa: F401 (an autouse fixture: rg.manual_seed(0) before each test)

# Some parity cases mix a bool padding mask with a float attention mask on purpose, and sequence-
# first encoders cannot take the nested-tensor path (both libraries warn, checked in test_warnings);
# PyTorch's nested-tensor path warns that it is a prototype.
pytestmark = [pytest.mark.filterwarnings("ignore:Support for mismatched"),
              pytest.mark.filterwarnings("ignore:enable_nested_tensor is True"),
              pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")]


RNG = np.random.default_rng(0)  # this module's own stream (arr, and the parity cotangents)
arr = partial(random_array, RNG, scale=1.0)


def close(x, expected, tol=1e-12):
    np.testing.assert_allclose(x.detach().numpy(), expected, rtol=tol, atol=tol)


# ----- scaled_dot_product_attention: NumPy reference ------------------------------------------------

def np_sdpa(q, k, v, mask=None, causal=False, scale=None):
    """softmax(q k^T * scale + bias) v; rows with nothing to attend to give 0 (as PyTorch)."""
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    L, S = q.shape[-2], k.shape[-2]
    if causal:
        s = np.where(np.tril(np.ones((L, S), bool)), s, -np.inf)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    m = s.max(-1, keepdims=True)
    dead = np.isneginf(m)
    e = np.exp(s - np.where(dead, 0, m))
    w = np.where(dead, 0.0, e / np.where(dead, 1, e.sum(-1, keepdims=True)))
    return w @ v


def qkv(L=4, S=5, E=3, Ev=2, batch=(2, 3)):
    return arr(*batch, L, E), arr(*batch, S, E), arr(*batch, S, Ev)


def test_sdpa_plain():
    q, k, v = qkv()
    close(F.scaled_dot_product_attention(t64(q), t64(k), t64(v)), np_sdpa(q, k, v))


@pytest.mark.parametrize("shape", [(4, 5), (1, 4, 5), (2, 3, 4, 5), (3, 1, 5)])
def test_sdpa_bool_mask_broadcasts(shape):
    q, k, v = qkv()
    mask = RNG.random(shape) > 0.4
    mask[..., 0] = True  # every row attends somewhere
    close(F.scaled_dot_product_attention(t64(q), t64(k), t64(v), attn_mask=rg.tensor(mask)),
          np_sdpa(q, k, v, mask=mask))


def test_sdpa_float_mask_is_added():
    q, k, v = qkv()
    mask = arr(3, 4, 5)
    close(F.scaled_dot_product_attention(t64(q), t64(k), t64(v), attn_mask=t64(mask)), np_sdpa(q, k, v, mask=mask))


def test_sdpa_float32_mask_with_float64_query():
    q, k, v = qkv()
    mask = arr(4, 5).astype(np.float32)
    out = F.scaled_dot_product_attention(t64(q), t64(k), t64(v), attn_mask=rg.tensor(mask))
    assert out.dtype == rg.float64
    close(out, np_sdpa(q, k, v, mask=mask.astype(np.float64)))


@pytest.mark.parametrize("L,S", [(4, 4), (2, 5), (5, 3)])
def test_sdpa_causal_is_top_left_lower_triangle(L, S):
    q, k, v = qkv(L=L, S=S)
    close(F.scaled_dot_product_attention(t64(q), t64(k), t64(v), is_causal=True), np_sdpa(q, k, v, causal=True))


@pytest.mark.parametrize("scale", [0.7, 2.0, -0.5, 0.0])
def test_sdpa_scale(scale):
    q, k, v = qkv()
    close(F.scaled_dot_product_attention(t64(q), t64(k), t64(v), scale=scale), np_sdpa(q, k, v, scale=scale))


def test_sdpa_unbatched_and_broadcast_batch_dims():
    q, k, v = arr(4, 3), arr(5, 3), arr(5, 2)
    close(F.scaled_dot_product_attention(t64(q), t64(k), t64(v)), np_sdpa(q, k, v))
    q, k, v = arr(2, 3, 4, 3), arr(1, 3, 5, 3), arr(2, 1, 5, 2)
    close(F.scaled_dot_product_attention(t64(q), t64(k), t64(v)), np_sdpa(q, k, v))


def test_sdpa_gqa_repeats_key_and_value_heads():
    q, k, v = arr(2, 6, 4, 3), arr(2, 2, 5, 3), arr(2, 3, 5, 2)
    out = F.scaled_dot_product_attention(t64(q), t64(k), t64(v), enable_gqa=True)
    close(out, np_sdpa(q, np.repeat(k, 3, axis=1), np.repeat(v, 2, axis=1)))


def test_sdpa_fully_masked_row_gives_zero_output_and_zero_gradient():
    q, k, v = qkv()
    mask = np.ones((4, 5), bool)
    mask[1] = False
    tq = t64(q, True)
    out = F.scaled_dot_product_attention(tq, t64(k), t64(v), attn_mask=rg.tensor(mask))
    assert np.all(out.detach().numpy()[:, :, 1] == 0)
    close(out, np_sdpa(q, k, v, mask=mask))
    out.sum().backward()
    g = tq.grad.numpy()
    assert np.all(np.isfinite(g)) and np.all(g[:, :, 1] == 0) and np.any(g[:, :, 0] != 0)


def test_sdpa_dropout():
    q, k, v = qkv()
    # p = 1 drops every weight.
    assert np.all(F.scaled_dot_product_attention(t64(q), t64(k), t64(v), dropout_p=1.0).numpy() == 0)
    # Dropout applies even outside of training (as PyTorch: the functional has no training flag),
    # and the kept weights are scaled by 1 / (1 - p): averaged over many draws the output is unbiased.
    ones = np.ones((1, 1, 5, 1))
    out = F.scaled_dot_product_attention(t64(np.zeros((1, 1, 20000, 3))), t64(np.zeros((1, 1, 5, 3))),
                                         t64(ones), dropout_p=0.3).numpy()
    assert not np.allclose(out, 1.0)
    assert abs(out.mean() - 1.0) < 0.02


def test_sdpa_cuda_free_dtype_float32():
    q, k, v = qkv()
    out = F.scaled_dot_product_attention(rg.tensor(q.astype(np.float32)), rg.tensor(k.astype(np.float32)),
                                         rg.tensor(v.astype(np.float32)), is_causal=True)
    assert out.dtype == rg.float32
    np.testing.assert_allclose(out.numpy(), np_sdpa(q, k, v, causal=True), rtol=1e-5, atol=1e-6)


# ----- gradients: central finite differences ----------------------------------------------------------

@pytest.mark.parametrize("kind", ["plain", "bool", "float", "causal", "scale", "gqa"])
def test_sdpa_gradcheck(kind):
    q, k, v = (t64(a, True) for a in qkv(L=3, S=4, E=2, Ev=2, batch=(2,)))
    kwargs = {}
    if kind == "bool":
        mask = np.array([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 1, 1]], bool)
        kwargs["attn_mask"] = rg.tensor(mask)
    elif kind == "float":
        kwargs["attn_mask"] = t64(arr(3, 4))
    elif kind == "causal":
        kwargs["is_causal"] = True
    elif kind == "scale":
        kwargs["scale"] = 1.7
    elif kind == "gqa":
        q = t64(arr(1, 4, 3, 2), True)
        k, v = t64(arr(1, 2, 4, 2), True), t64(arr(1, 2, 4, 2), True)
        kwargs["enable_gqa"] = True
    assert gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, **kwargs), (q, k, v))


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("kdim", [None, 3])
def test_mha_gradcheck_in_its_inputs(need_weights, kdim):
    m = nn.MultiheadAttention(4, 2, kdim=kdim, vdim=kdim).double()
    E_kv = kdim or 4
    q, k, v = t64(arr(3, 2, 4), True), t64(arr(2, 2, E_kv), True), t64(arr(2, 2, E_kv), True)
    kpm = rg.tensor(np.array([[False, False], [False, True]]))

    def fn(a, b, c):
        out, w = m(a, b, c, key_padding_mask=kpm, need_weights=need_weights)
        return (out, w) if need_weights else out

    assert gradcheck(fn, (q, k, v))


def test_mha_gradcheck_self_attention_with_causal_mask():
    m = nn.MultiheadAttention(4, 2, batch_first=True).double()
    mask = nn.Transformer.generate_square_subsequent_mask(3, dtype=rg.float64)
    x = t64(arr(2, 3, 4), True)
    assert gradcheck(lambda a: m(a, a, a, attn_mask=mask, need_weights=False, is_causal=True)[0], (x,))


def test_encoder_layer_gradcheck():
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, dtype=rg.float64)
    assert gradcheck(lambda a: layer(a), (t64(arr(3, 2, 4), True),))


# ----- module construction --------------------------------------------------------------------------

def test_mha_parameters_and_init():
    m = nn.MultiheadAttention(6, 3)
    assert [n for n, _ in m.named_parameters()] == ["in_proj_weight", "in_proj_bias", "out_proj.weight",
                                                     "out_proj.bias"]
    assert tuple(m.in_proj_weight.shape) == (18, 6) and tuple(m.in_proj_bias.shape) == (18,)
    bound = math.sqrt(6 / (6 + 18))  # xavier_uniform_ on the packed (3E, E) weight
    w = m.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert np.all(m.in_proj_bias.detach().numpy() == 0) and np.all(m.out_proj.bias.detach().numpy() == 0)
    assert isinstance(m.out_proj, nn.Linear) and m.head_dim == 2
    assert m.q_proj_weight is None and m.bias_k is None and m.bias_v is None


def test_mha_separate_projections_and_bias_kv():
    m = nn.MultiheadAttention(4, 2, bias=False, add_bias_kv=True, kdim=3, vdim=5)
    shapes = {n: tuple(p.shape) for n, p in m.named_parameters()}
    assert shapes == {"q_proj_weight": (4, 4), "k_proj_weight": (4, 3), "v_proj_weight": (4, 5),
                      "bias_k": (1, 1, 4), "bias_v": (1, 1, 4), "out_proj.weight": (4, 4)}
    assert m.in_proj_weight is None and m.in_proj_bias is None and m.out_proj.bias is None


def test_mha_batch_first_is_the_transpose():
    m = nn.MultiheadAttention(4, 2).double()
    mb = nn.MultiheadAttention(4, 2, batch_first=True).double()
    mb.load_state_dict(m.state_dict())
    x, y = arr(3, 2, 4), arr(5, 2, 4)
    out, w = m(t64(x), t64(y), t64(y))
    outb, wb = mb(t64(x.transpose(1, 0, 2)), t64(y.transpose(1, 0, 2)), t64(y.transpose(1, 0, 2)))
    close(outb, out.detach().numpy().transpose(1, 0, 2))
    close(wb, w.detach().numpy())


def np_mha(m, q, k, v):
    """A NumPy reference for the (L, N, E) packed-weight forward: (output, head-averaged weights)."""
    W = m.in_proj_weight.detach().numpy()
    b = m.in_proj_bias.detach().numpy()
    E, H = m.embed_dim, m.num_heads
    d = E // H
    Q, K, V = q @ W[:E].T + b[:E], k @ W[E:2 * E].T + b[E:2 * E], v @ W[2 * E:].T + b[2 * E:]
    L, N, _ = q.shape
    S = k.shape[0]
    heads = lambda x, n: x.reshape(n, N, H, d).transpose(1, 2, 0, 3)  # noqa: E731  (N, H, n, d)
    s = heads(Q, L) @ heads(K, S).transpose(0, 1, 3, 2) / math.sqrt(d)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    o = (w @ heads(V, S)).transpose(2, 0, 1, 3).reshape(L, N, E)
    return o @ m.out_proj.weight.detach().numpy().T + m.out_proj.bias.detach().numpy(), w.mean(1)


def test_mha_against_numpy():
    m = nn.MultiheadAttention(6, 3).double()
    with rg.no_grad():
        m.in_proj_bias.copy_(t64(arr(18)))
        m.out_proj.bias.copy_(t64(arr(6)))
    q, k, v = arr(4, 2, 6), arr(5, 2, 6), arr(5, 2, 6)
    out, w = m(t64(q), t64(k), t64(v))
    ref_out, ref_w = np_mha(m, q, k, v)
    close(out, ref_out)
    close(w, ref_w)
    out2, none = m(t64(q), t64(k), t64(v), need_weights=False)
    assert none is None
    close(out2, ref_out)


def test_mha_unbatched_is_batch_of_one():
    m = nn.MultiheadAttention(4, 2).double()
    x = arr(3, 4)
    out, w = m(t64(x), t64(x), t64(x), average_attn_weights=False)
    outb, wb = m(t64(x[:, None]), t64(x[:, None]), t64(x[:, None]), average_attn_weights=False)
    assert tuple(out.shape) == (3, 4) and tuple(w.shape) == (2, 3, 3)
    close(out, outb.detach().numpy()[:, 0])
    close(w, wb.detach().numpy()[0])


def test_mha_dropout_only_in_training():
    m = nn.MultiheadAttention(4, 2, dropout=0.5).double()
    x = t64(arr(3, 2, 4))
    m.eval()
    a, b = m(x, x, x)[0], m(x, x, x)[0]
    close(a, b.detach().numpy())
    m.train()
    c = m(x, x, x)[0]
    assert not np.allclose(c.detach().numpy(), a.detach().numpy())


def test_mha_bool_and_float_masks_agree():
    m = nn.MultiheadAttention(4, 2).double()
    x = t64(arr(3, 2, 4))
    kpm = np.array([[False, False, True], [False, False, False]])
    am = np.triu(np.ones((3, 3), bool), 1)
    for need_weights in (True, False):
        a = m(x, x, x, key_padding_mask=rg.tensor(kpm), attn_mask=rg.tensor(am), need_weights=need_weights)
        b = m(x, x, x, key_padding_mask=t64(np.where(kpm, -np.inf, 0)), attn_mask=t64(np.where(am, -np.inf, 0)),
              need_weights=need_weights)
        close(a[0], b[0].detach().numpy())
    # A padded key gets no weight.
    w = m(x, x, x, key_padding_mask=rg.tensor(kpm))[1].detach().numpy()
    assert np.all(w[0, :, 2] == 0) and np.all(w[1, :, 2] > 0)


def test_generate_square_subsequent_mask():
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    assert mask.dtype == rg.float32
    np.testing.assert_array_equal(mask.numpy(), np.triu(np.full((4, 4), -np.inf), 1))
    assert nn.Transformer.generate_square_subsequent_mask(2, dtype=rg.float64).dtype == rg.float64


def test_encoder_deep_copies_the_layer():
    layer = nn.TransformerEncoderLayer(4, 2, 8, batch_first=True)
    enc = nn.TransformerEncoder(layer, 3)
    assert len(enc.layers) == 3 and enc.num_layers == 3
    ps = [layer.linear1.weight] + [lay.linear1.weight for lay in enc.layers]
    assert len({id(p) for p in ps}) == 4
    for p in ps[1:]:
        np.testing.assert_array_equal(p.detach().numpy(), layer.linear1.weight.detach().numpy())
    with rg.no_grad():
        enc.layers[0].linear1.weight.fill_(0.0)
    assert np.any(enc.layers[1].linear1.weight.detach().numpy() != 0)
    assert np.any(layer.linear1.weight.detach().numpy() != 0)
    assert len(list(enc.parameters())) == 3 * len(list(layer.parameters()))
    c = copy.deepcopy(enc)
    assert c.layers[1].self_attn.in_proj_weight is not enc.layers[1].self_attn.in_proj_weight


def test_encoder_layer_activation_forms():
    x = t64(arr(3, 2, 4))
    outs = []
    for act in ("gelu", F.gelu, nn.GELU()):
        rg.manual_seed(1)
        layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, activation=act, dtype=rg.float64)
        assert layer.activation_relu_or_gelu == 2
        outs.append(layer(x).detach().numpy())
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])
    assert nn.TransformerEncoderLayer(4, 2, activation=F.silu).activation_relu_or_gelu == 0
    assert nn.TransformerEncoderLayer(4, 2).activation_relu_or_gelu == 1


def test_transformer_xavier_init_on_matrices():
    t = nn.Transformer(8, 2, 1, 1, 16)
    w = t.encoder.layers[0].linear1.weight.detach().numpy()  # (16, 8)
    bound = math.sqrt(6 / 24)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 1 / math.sqrt(8)  # beyond Linear's own init
    assert np.all(t.encoder.norm.weight.detach().numpy() == 1)


# ----- errors and warnings (PyTorch's wording; the same calls are run through torch below) ---------

def _mha(lib, *args, **kwargs):
    return lib.nn.MultiheadAttention(*args, **kwargs)


def _t(lib, shape, dtype="float64"):
    return lib.tensor(np.ones(shape), dtype=getattr(lib, dtype))


def _mha_call(lib, qs=(3, 2, 8), ks=(5, 2, 8), vs=None, **kwargs):
    m = _mha(lib, 8, 2, dtype=lib.float64)
    return m(_t(lib, qs), _t(lib, ks), _t(lib, vs or ks), **kwargs)


def _sdpa(lib, qs=(2, 3, 4, 8), ks=(2, 3, 5, 8), vs=(2, 3, 5, 6), dtypes=("float64",) * 3, **kwargs):
    q, k, v = (_t(lib, s, d) for s, d in zip((qs, ks, vs), dtypes))
    return lib.nn.functional.scaled_dot_product_attention(q, k, v, **kwargs)


def _bool(lib, shape):
    return lib.tensor(np.zeros(shape, bool))


ERRORS = {
    "mha_not_divisible": (lambda lib: _mha(lib, 10, 3), AssertionError, "embed_dim must be divisible by num_heads"),
    "mha_nonpositive": (lambda lib: _mha(lib, 0, 2), ValueError,
                        "embed_dim and num_heads must be greater than 0, got embed_dim=0 and num_heads=2 instead"),
    "attn_mask_2d_shape": (lambda lib: _mha_call(lib, attn_mask=_bool(lib, (3, 4))), RuntimeError,
                           "The shape of the 2D attn_mask is torch.Size([3, 4]), but should be (3, 5)."),
    "attn_mask_3d_shape": (lambda lib: _mha_call(lib, attn_mask=_bool(lib, (2, 3, 5))), RuntimeError,
                           "The shape of the 3D attn_mask is torch.Size([2, 3, 5]), but should be (4, 3, 5)."),
    "attn_mask_4d": (lambda lib: _mha_call(lib, attn_mask=_bool(lib, (1, 2, 3, 5))), AssertionError,
                     "For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found 4-D "
                     "tensor instead"),
    "unbatched_attn_mask_3d": (lambda lib: _mha_call(lib, qs=(3, 8), ks=(5, 8), attn_mask=_bool(lib, (3, 3, 5))),
                               AssertionError, "Expected `attn_mask` shape to be (2, 3, 5) but got "
                               "torch.Size([3, 3, 5])"),
    "kpm_batch": (lambda lib: _mha_call(lib, key_padding_mask=_bool(lib, (3, 5))), AssertionError,
                  "Expected key_padded_mask.shape[0] to be 2, but got 3"),
    "kpm_len": (lambda lib: _mha_call(lib, key_padding_mask=_bool(lib, (2, 4))), AssertionError,
                "Expected key_padded_mask.shape[1] to be 5, but got 4"),
    "kpm_rank": (lambda lib: _mha_call(lib, key_padding_mask=_bool(lib, (2, 5, 1))), AssertionError,
                 "For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D but found 3-D tensor "
                 "instead"),
    "unbatched_kpm_rank": (lambda lib: _mha_call(lib, qs=(3, 8), ks=(5, 8), key_padding_mask=_bool(lib, (1, 5))),
                           AssertionError, "For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` "
                           "or 1-D but found 2-D tensor instead"),
    "int_mask": (lambda lib: _mha_call(lib, attn_mask=lib.zeros((3, 5), dtype=lib.int64)), AssertionError,
                 "only bool and floating types of attn_mask are supported"),
    "causal_without_mask": (lambda lib: _mha_call(lib, is_causal=True), RuntimeError,
                            "Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                            "method `generate_square_subsequent_mask` to create this mask."),
    "query_rank": (lambda lib: _mha_call(lib, qs=(1, 3, 2, 8)), AssertionError,
                   "query should be unbatched 2D or batched 3D tensor but received 4-D query tensor"),
    "key_rank": (lambda lib: _mha_call(lib, ks=(5, 8)), AssertionError,
                 "For batched (3-D) `query`, expected `key` and `value` to be 3-D but found 2-D and 2-D tensors "
                 "respectively"),
    "embed_dim": (lambda lib: _mha_call(lib, qs=(3, 2, 6)), AssertionError,
                  "was expecting embedding dimension of 8, but got 6"),
    "key_value_shape": (lambda lib: _mha_call(lib, vs=(4, 2, 8)), AssertionError,
                        "key shape torch.Size([5, 2, 8]) does not match value shape torch.Size([4, 2, 8])"),
    "separate_proj_shape": (lambda lib: _mha(lib, 8, 2, kdim=4, vdim=4, dtype=lib.float64)(
        _t(lib, (3, 2, 8)), _t(lib, (5, 2, 4)), _t(lib, (4, 2, 4))), AssertionError,
        "key's sequence and batch dims torch.Size([5, 2]) do not match value's torch.Size([4, 2])"),
    "separate_key_weight": (lambda lib: _mha(lib, 8, 2, kdim=4, vdim=4, dtype=lib.float64)(
        _t(lib, (3, 2, 8)), _t(lib, (5, 2, 3)), _t(lib, (5, 2, 4))), AssertionError,
        "expecting key weights shape of (8, 3), but got torch.Size([8, 4])"),
    "activation": (lambda lib: lib.nn.TransformerEncoderLayer(8, 2, activation="tanh"), RuntimeError,
                   "activation should be relu/gelu, not tanh"),
    "transformer_batch": (lambda lib: lib.nn.Transformer(8, 2, 1, 1, 16)(_t(lib, (3, 2, 8), "float32"),
                                                                       _t(lib, (3, 4, 8), "float32")),
                          RuntimeError, "the batch number of src and tgt must be equal"),
    "transformer_features": (lambda lib: lib.nn.Transformer(8, 2, 1, 1, 16)(_t(lib, (3, 2, 8), "float32"),
                                                                          _t(lib, (3, 2, 6), "float32")),
                             RuntimeError, "the feature number of src and tgt must be equal to d_model"),
    "float64_mask_float32_weights": (
        lambda lib: _mha(lib, 8, 2)(*(_t(lib, (3, 2, 8), "float32"),) * 3, attn_mask=_t(lib, (3, 3))),
        RuntimeError, "Input dtypes must be the same, got: input double, batch1: float, batch2: float"),
    "float64_mask_float32_no_weights": (
        lambda lib: _mha(lib, 8, 2)(*(_t(lib, (3, 2, 8), "float32"),) * 3, attn_mask=_t(lib, (3, 3)),
                                    need_weights=False),
        RuntimeError, "Expected attn_mask dtype to be bool or float or to match query dtype, but got "
        "attn_mask.dtype: double and  query.dtype: float instead."),
    "sdpa_dtype": (lambda lib: _sdpa(lib, dtypes=("float64", "float32", "float32")), RuntimeError,
                   "Expected query, key, and value to have the same dtype, but got query.dtype: double key.dtype: "
                   "float and value.dtype: float instead."),
    "sdpa_rank": (lambda lib: _sdpa(lib, qs=(8,)), RuntimeError,
                  "Expected query, key, and value to all be  at least 2 dimensional, but got query.dim: 1 key.dim: "
                  "4 and value.dim: 4 instead."),
    "sdpa_causal_and_mask": (lambda lib: _sdpa(lib, attn_mask=_bool(lib, (4, 5)), is_causal=True), RuntimeError,
                             "_scaled_dot_product_attention: Explicit attn_mask should not be set when "
                             "is_causal=True"),
    "sdpa_mask_dtype": (lambda lib: _sdpa(lib, attn_mask=lib.zeros((4, 5), dtype=lib.int64)), RuntimeError,
                        "Expected attn_mask dtype to be bool or float or to match query dtype, but got "
                        "attn_mask.dtype: long int and  query.dtype: double instead."),
    "sdpa_float64_mask_float32_query": (
        lambda lib: _sdpa(lib, dtypes=("float32",) * 3, attn_mask=lib.zeros((4, 5), dtype=lib.float64)),
        RuntimeError, "Expected attn_mask dtype to be bool or float or to match query dtype, but got "
        "attn_mask.dtype: double and  query.dtype: float instead."),
    "sdpa_gqa": (lambda lib: _sdpa(lib, ks=(2, 2, 5, 8), vs=(2, 2, 5, 6), enable_gqa=True), RuntimeError,
                 "Number of heads in key and value must divide the number of heads in query"),
    "sdpa_dropout": (lambda lib: _sdpa(lib, dropout_p=1.5), RuntimeError,
                     "dropout probability has to be between 0 and 1, but got 1.5"),
    "sdpa_head_dim": (lambda lib: _sdpa(lib, ks=(2, 3, 5, 7)), RuntimeError,
                      "Expected size for first two dimensions of batch2 tensor to be: [6, 8] but got: [6, 7]."),
    "sdpa_value_len": (lambda lib: _sdpa(lib, vs=(2, 3, 4, 6)), RuntimeError,
                       "Expected size for first two dimensions of batch2 tensor to be: [6, 5] but got: [6, 4]."),
}


def _ours(msg):
    return msg.replace("torch.", "rustgrad.")


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors(name):
    fn, exc, msg = ERRORS[name]
    with pytest.raises(exc, match=re.escape(_ours(msg))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(rg)


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_are_pytorchs(name):
    torch = pytest.importorskip("torch")
    fn, exc, msg = ERRORS[name]
    with pytest.raises(exc, match=re.escape(msg)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(torch)


def _mismatched_masks(lib):
    m = _mha(lib, 8, 2, dtype=lib.float64)
    x = _t(lib, (3, 2, 8))
    return m(x, x, x, key_padding_mask=_bool(lib, (2, 3)), attn_mask=lib.zeros((3, 3), dtype=lib.float64))


def _encoder_not_batch_first(lib):
    return lib.nn.TransformerEncoder(lib.nn.TransformerEncoderLayer(8, 2, 16), 2)


WARNINGS = {
    "mismatched_masks": (_mismatched_masks, "Support for mismatched key_padding_mask and attn_mask is deprecated. "
                                            "Use same type for both instead."),
    "nested_tensor": (_encoder_not_batch_first, "enable_nested_tensor is True, but self.use_nested_tensor is False "
                      "because encoder_layer.self_attn.batch_first was not True(use batch_first for better "
                      "inference performance)"),
}


@pytest.mark.parametrize("name", sorted(WARNINGS))
def test_warnings(name):
    fn, msg = WARNINGS[name]
    with pytest.warns(UserWarning, match=re.escape(msg)):
        fn(rg)


@pytest.mark.parametrize("name", sorted(WARNINGS))
def test_warnings_are_pytorchs(name):
    torch = pytest.importorskip("torch")
    fn, msg = WARNINGS[name]
    with pytest.warns(UserWarning, match=re.escape(msg)):
        fn(torch)


def test_no_nested_tensor_warning_when_fast_path_possible():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2)
        nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2, enable_nested_tensor=False)


# ----- PyTorch parity -------------------------------------------------------------------------------

def _port(tmod, rmod):
    """Loads ``tmod``'s state into ``rmod`` (through NumPy), keeping each parameter's dtype."""
    state = {k: rg.tensor(v.detach().cpu().numpy()) for k, v in tmod.state_dict().items()}
    rmod.load_state_dict(state)


def _pair_modules(torch, build, dtype, **kwargs):
    tdt, rdt = (torch.float64, rg.float64) if dtype == "float64" else (torch.float32, rg.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tmod = build(torch, dtype=tdt, **kwargs)
        rmod = build(rg, dtype=rdt, **kwargs)
    _port(tmod, rmod)
    assert list(tmod.state_dict()) == list(rmod.state_dict())
    return tmod, rmod


def _inputs(torch, dtype, *shapes):
    npdt = np.float64 if dtype == "float64" else np.float32
    arrays = [arr(*s).astype(npdt) for s in shapes]
    return ([rg.tensor(a, requires_grad=True) for a in arrays], [torch.tensor(a, requires_grad=True) for a in arrays])


def _tol(dtype):
    return 1e-10 if dtype == "float64" else 2e-5


def _check(ours, theirs, dtype):
    if theirs is None:
        assert ours is None
        return
    assert tuple(ours.shape) == tuple(theirs.shape)
    tol = _tol(dtype)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=tol, atol=tol)


def _backward_and_compare(torch, routs, touts, rins, tins, rmod, tmod, dtype):
    """Backpropagates the same random cotangents through both and compares every gradient."""
    rloss, tloss = 0, 0
    for r, t in zip(routs, touts):
        if t is None:
            continue
        g = arr(*t.shape)
        rloss = rloss + (r * rg.tensor(g, dtype=r.dtype)).sum()
        tloss = tloss + (t * torch.tensor(g, dtype=t.dtype)).sum()
    rloss.backward()
    tloss.backward()
    for r, t in zip(rins, tins):
        _check(r.grad, t.grad, dtype)
    rparams = dict(rmod.named_parameters())
    for name, tp in tmod.named_parameters():
        if tp.grad is None:
            assert rparams[name].grad is None or not np.any(rparams[name].grad.numpy()), name
        else:
            _check(rparams[name].grad, tp.grad, dtype)


def _mask_tensors(torch, kind, shape, dtype="float64"):
    """A bool mask (True = masked out, MHA's convention) or a float mask (-inf where masked, in
    ``dtype``), in both libraries."""
    if kind is None:
        return None, None
    rng = np.random.default_rng(sum(shape))
    masked = rng.random(shape) < 0.3
    masked[..., 0] = False  # no row fully masked (PyTorch gives NaN there on this path)
    if kind == "bool":
        return rg.tensor(masked), torch.tensor(masked)
    a = np.where(masked, -np.inf, rng.standard_normal(shape) * 0.5).astype(dtype)
    return rg.tensor(a), torch.tensor(a)


def _build_mha(lib, dtype, **kwargs):
    return lib.nn.MultiheadAttention(dtype=dtype, **kwargs)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("masks", [(None, None), ("bool", None), (None, "float"), ("bool", "bool"),
                                   ("float", "float")])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_mha_parity(dtype, batch_first, masks, need_weights, average):
    torch = pytest.importorskip("torch")
    tmod, rmod = _pair_modules(torch, _build_mha, dtype, embed_dim=8, num_heads=2, batch_first=batch_first)
    with torch.no_grad():
        tmod.in_proj_bias.normal_()
        tmod.out_proj.bias.normal_()
    _port(tmod, rmod)
    tmod.eval(), rmod.eval()
    N, L, S = 3, 4, 5
    shape = (lambda n: (N, n, 8)) if batch_first else (lambda n: (n, N, 8))
    rins, tins = _inputs(torch, dtype, shape(L), shape(S), shape(S))
    rkpm, tkpm = _mask_tensors(torch, masks[0], (N, S), dtype)
    ram, tam = _mask_tensors(torch, masks[1], (L, S), dtype)
    kw = dict(need_weights=need_weights, average_attn_weights=average)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        touts = tmod(*tins, key_padding_mask=tkpm, attn_mask=tam, **kw)
        routs = rmod(*rins, key_padding_mask=rkpm, attn_mask=ram, **kw)
    for r, t in zip(routs, touts):
        _check(r, t, dtype)
    _backward_and_compare(torch, routs, touts, rins, tins, rmod, tmod, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", ["self", "shared_kv", "kdim_vdim", "no_bias", "bias_kv", "zero_attn",
                                  "bias_kv_zero_attn_masks", "mask_3d", "unbatched", "unbatched_mask_3d", "causal",
                                  "causal_kpm", "causal_weights"])
def test_mha_parity_variants(dtype, case):
    torch = pytest.importorskip("torch")
    kwargs = dict(embed_dim=8, num_heads=2, batch_first=True)
    if case == "kdim_vdim":
        kwargs.update(kdim=5, vdim=3)
    elif case == "no_bias":
        kwargs.update(bias=False)
    elif case in ("bias_kv", "bias_kv_zero_attn_masks"):
        kwargs.update(add_bias_kv=True)
    if case in ("zero_attn", "bias_kv_zero_attn_masks"):
        kwargs.update(add_zero_attn=True)
    tmod, rmod = _pair_modules(torch, _build_mha, dtype, **kwargs)
    tmod.eval(), rmod.eval()
    N, L, S = 2, 4, 5
    call = {}
    if case == "self":
        rins, tins = _inputs(torch, dtype, (N, L, 8))
        rargs, targs = rins * 3, tins * 3
    elif case == "shared_kv":
        rins, tins = _inputs(torch, dtype, (N, L, 8), (N, S, 8))
        rargs, targs = [rins[0], rins[1], rins[1]], [tins[0], tins[1], tins[1]]
    elif case == "kdim_vdim":
        rins, tins = _inputs(torch, dtype, (N, L, 8), (N, S, 5), (N, S, 3))
        rargs, targs = rins, tins
    elif case.startswith("unbatched"):
        rins, tins = _inputs(torch, dtype, (L, 8), (S, 8), (S, 8))
        rargs, targs = rins, tins
        rk, tk = _mask_tensors(torch, "bool", (S,))
        call = dict(key_padding_mask=(rk, tk))
        if case == "unbatched_mask_3d":
            call["attn_mask"] = _mask_tensors(torch, "float", (2, L, S), dtype)
    elif case.startswith("causal"):
        rins, tins = _inputs(torch, dtype, (N, L, 8))
        rargs, targs = rins * 3, tins * 3
        tdt = getattr(torch, dtype)
        tmask = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=tdt)
        call = dict(attn_mask=(rg.tensor(tmask.numpy()), tmask), is_causal=(True, True),
                    need_weights=(case == "causal_weights",) * 2)
        if case == "causal_kpm":
            call["key_padding_mask"] = _mask_tensors(torch, "bool", (N, L))
    else:
        rins, tins = _inputs(torch, dtype, (N, L, 8), (N, S, 8), (N, S, 8))
        rargs, targs = rins, tins
        if case == "mask_3d":
            call = dict(attn_mask=_mask_tensors(torch, "bool", (N * 2, L, S)))
        elif case == "bias_kv_zero_attn_masks":
            call = dict(attn_mask=_mask_tensors(torch, "float", (L, S), dtype),
                        key_padding_mask=_mask_tensors(torch, "float", (N, S), dtype),
                        average_attn_weights=(False, False))
    rkw = {k: v[0] for k, v in call.items()}
    tkw = {k: v[1] for k, v in call.items()}
    touts = tmod(*targs, **tkw)
    routs = rmod(*rargs, **rkw)
    for r, t in zip(routs, touts):
        _check(r, t, dtype)
    _backward_and_compare(torch, routs, touts, rins, tins, rmod, tmod, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["plain", "bool", "float", "causal", "scale", "gqa", "unbatched"])
def test_sdpa_parity(dtype, kind):
    torch = pytest.importorskip("torch")
    shapes = [(2, 4, 5, 8), (2, 4, 6, 8), (2, 4, 6, 3)]
    kwargs = [{}, {}]
    if kind == "bool":
        m = np.random.default_rng(1).random((5, 6)) > 0.3
        m[:, 0] = True
        kwargs = [dict(attn_mask=rg.tensor(m)), dict(attn_mask=torch.tensor(m))]
    elif kind == "float":
        m = arr(4, 5, 6).astype(np.float32)
        kwargs = [dict(attn_mask=rg.tensor(m)), dict(attn_mask=torch.tensor(m))]
    elif kind == "causal":
        kwargs = [dict(is_causal=True), dict(is_causal=True)]
    elif kind == "scale":
        kwargs = [dict(scale=0.3), dict(scale=0.3)]
    elif kind == "gqa":
        shapes = [(2, 4, 5, 8), (2, 2, 6, 8), (2, 1, 6, 3)]
        kwargs = [dict(enable_gqa=True), dict(enable_gqa=True)]
    elif kind == "unbatched":
        shapes = [(5, 8), (6, 8), (6, 3)]
    rins, tins = _inputs(torch, dtype, *shapes)
    rout = F.scaled_dot_product_attention(*rins, **kwargs[0])
    tout = torch.nn.functional.scaled_dot_product_attention(*tins, **kwargs[1])
    _check(rout, tout, dtype)
    g = arr(*tout.shape)
    rout.backward(rg.tensor(g, dtype=rout.dtype))
    tout.backward(torch.tensor(g, dtype=tout.dtype))
    for r, t in zip(rins, tins):
        _check(r.grad, t.grad, dtype)


def _build_encoder_layer(lib, dtype, **kwargs):
    return lib.nn.TransformerEncoderLayer(dtype=dtype, **kwargs)


def _randomise_norms(torch, tmod):
    """LayerNorm weights and biases away from 1 and 0, so that their gradients and roles show."""
    with torch.no_grad():
        for name, p in tmod.named_parameters():
            if "norm" in name or name.endswith("bias"):
                p.copy_(torch.randn_like(p) * 0.5 + (1.0 if name.endswith("weight") else 0.0))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("masks", [(None, None), ("bool", "bool"), ("float", None)])
def test_encoder_layer_parity(dtype, norm_first, batch_first, activation, masks):
    torch = pytest.importorskip("torch")
    tmod, rmod = _pair_modules(torch, _build_encoder_layer, dtype, d_model=8, nhead=2, dim_feedforward=16,
                               activation=activation, batch_first=batch_first, norm_first=norm_first)
    _randomise_norms(torch, tmod)
    _port(tmod, rmod)
    tmod.eval(), rmod.eval()
    N, L = 3, 5
    rins, tins = _inputs(torch, dtype, (N, L, 8) if batch_first else (L, N, 8))
    rkpm, tkpm = _mask_tensors(torch, masks[0], (N, L), dtype)
    ram, tam = _mask_tensors(torch, masks[1], (L, L), dtype)
    tout = tmod(tins[0], src_mask=tam, src_key_padding_mask=tkpm)
    rout = rmod(rins[0], src_mask=ram, src_key_padding_mask=rkpm)
    _check(rout, tout, dtype)
    _backward_and_compare(torch, [rout], [tout], rins, tins, rmod, tmod, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("causal", [False, True])
def test_encoder_parity(dtype, causal):
    torch = pytest.importorskip("torch")

    def build(lib, dtype):
        layer = lib.nn.TransformerEncoderLayer(8, 2, 16, dtype=dtype, batch_first=True, activation="gelu")
        return lib.nn.TransformerEncoder(layer, 2, norm=lib.nn.LayerNorm(8, dtype=dtype))

    tmod, rmod = _pair_modules(torch, build, dtype)
    _randomise_norms(torch, tmod)
    _port(tmod, rmod)
    tmod.eval(), rmod.eval()
    rins, tins = _inputs(torch, dtype, (2, 5, 8))
    kw_r, kw_t = {}, {}
    if causal:
        tmask = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=getattr(torch, dtype))
        kw_t = dict(mask=tmask)
        kw_r = dict(mask=rg.tensor(tmask.numpy()))
    rk, tk = _mask_tensors(torch, "bool", (2, 5))
    tout = tmod(tins[0], src_key_padding_mask=tk, **kw_t)
    rout = rmod(rins[0], src_key_padding_mask=rk, **kw_r)
    _check(rout, tout, dtype)
    _backward_and_compare(torch, [rout], [tout], rins, tins, rmod, tmod, dtype)


@pytest.mark.parametrize("left_aligned", [True, False])
def test_encoder_nested_tensor_path_parity(left_aligned):
    # PyTorch drops the padded positions in eval mode without autograd (when the layer allows its
    # fast path and the padding mask is left aligned); they come back as zeros before the final norm.
    torch = pytest.importorskip("torch")

    def build(lib, dtype):
        layer = lib.nn.TransformerEncoderLayer(8, 2, 16, dtype=dtype, batch_first=True)
        return lib.nn.TransformerEncoder(layer, 2, norm=lib.nn.LayerNorm(8, dtype=dtype))

    tmod, rmod = _pair_modules(torch, build, "float64")
    _randomise_norms(torch, tmod)
    _port(tmod, rmod)
    tmod.eval(), rmod.eval()
    x = arr(3, 5, 8)
    pad = np.zeros((3, 5), bool)
    pad[1, 3:] = True
    pad[2, 4] = True
    if not left_aligned:
        pad[0, 1] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            tout = tmod(torch.tensor(x), src_key_padding_mask=torch.tensor(pad))
    with rg.no_grad():
        rout = rmod(t64(x), src_key_padding_mask=rg.tensor(pad))
    _check(rout, tout, "float64")
    bias = rmod.norm.bias.detach().numpy()
    assert np.allclose(rout.numpy()[1, 3], bias) == left_aligned


def _build_decoder_layer(lib, dtype, **kwargs):
    return lib.nn.TransformerDecoderLayer(dtype=dtype, **kwargs)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_decoder_layer_parity(dtype, norm_first, batch_first):
    torch = pytest.importorskip("torch")
    tmod, rmod = _pair_modules(torch, _build_decoder_layer, dtype, d_model=8, nhead=2, dim_feedforward=16,
                               batch_first=batch_first, norm_first=norm_first, activation="gelu")
    _randomise_norms(torch, tmod)
    _port(tmod, rmod)
    tmod.eval(), rmod.eval()
    N, T, S = 2, 4, 5
    shape = (lambda n: (N, n, 8)) if batch_first else (lambda n: (n, N, 8))
    rins, tins = _inputs(torch, dtype, shape(T), shape(S))
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=getattr(torch, dtype))
    rk, tk = _mask_tensors(torch, "bool", (N, S))
    tout = tmod(*tins, tgt_mask=tmask, memory_key_padding_mask=tk, tgt_is_causal=True)
    rout = rmod(*rins, tgt_mask=rg.tensor(tmask.numpy()), memory_key_padding_mask=rk, tgt_is_causal=True)
    _check(rout, tout, dtype)
    _backward_and_compare(torch, [rout], [tout], rins, tins, rmod, tmod, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_parity(dtype, batch_first):
    torch = pytest.importorskip("torch")

    def build(lib, dtype):
        return lib.nn.Transformer(8, 2, 2, 2, 16, batch_first=batch_first, dtype=dtype)

    tmod, rmod = _pair_modules(torch, build, dtype)
    _randomise_norms(torch, tmod)
    _port(tmod, rmod)
    tmod.eval(), rmod.eval()
    N, S, T = 2, 5, 4
    shape = (lambda n: (N, n, 8)) if batch_first else (lambda n: (n, N, 8))
    rins, tins = _inputs(torch, dtype, shape(S), shape(T))
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=getattr(torch, dtype))
    rk, tk = _mask_tensors(torch, "bool", (N, S))
    tout = tmod(*tins, tgt_mask=tmask, src_key_padding_mask=tk, memory_key_padding_mask=tk)
    rout = rmod(*rins, tgt_mask=rg.tensor(tmask.numpy()), src_key_padding_mask=rk, memory_key_padding_mask=rk)
    _check(rout, tout, dtype)
    _backward_and_compare(torch, [rout], [tout], rins, tins, rmod, tmod, dtype)


def test_generate_square_subsequent_mask_parity():
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(nn.Transformer.generate_square_subsequent_mask(5).numpy(),
                                  torch.nn.Transformer.generate_square_subsequent_mask(5).numpy())


# ----- state_dict keys and reprs ---------------------------------------------------------------------

MODULES = {
    "mha": lambda lib: lib.nn.MultiheadAttention(8, 2),
    "mha_kdim_bias_kv": lambda lib: lib.nn.MultiheadAttention(8, 2, kdim=4, vdim=6, add_bias_kv=True,
                                                              add_zero_attn=True),
    "mha_no_bias": lambda lib: lib.nn.MultiheadAttention(8, 4, bias=False, batch_first=True, dropout=0.2),
    "encoder_layer": lambda lib: lib.nn.TransformerEncoderLayer(8, 2, 16),
    "encoder_layer_gelu_module": lambda lib: lib.nn.TransformerEncoderLayer(8, 2, 16, activation=lib.nn.GELU(),
                                                                            bias=False, norm_first=True),
    "encoder": lambda lib: lib.nn.TransformerEncoder(lib.nn.TransformerEncoderLayer(8, 2, 16), 3,
                                                     norm=lib.nn.LayerNorm(8)),
    "decoder_layer": lambda lib: lib.nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0),
    "decoder": lambda lib: lib.nn.TransformerDecoder(lib.nn.TransformerDecoderLayer(8, 2, 16), 2),
    "transformer": lambda lib: lib.nn.Transformer(8, 2, 2, 1, 16),
}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_state_dict_keys_shapes_and_repr_are_pytorchs(name):
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tmod = MODULES[name](torch)
        rmod = MODULES[name](rg)
    tsd, rsd = tmod.state_dict(), rmod.state_dict()
    assert list(tsd) == list(rsd)
    assert [tuple(v.shape) for v in tsd.values()] == [tuple(v.shape) for v in rsd.values()]
    assert repr(rmod) == repr(tmod)
    assert [n for n, _ in rmod.named_parameters()] == [n for n, _ in tmod.named_parameters()]


# ----- on the GPU (skipped without one) ----------------------------------------------------------------

@pytest.mark.cuda
@pytest.mark.skipif(not rg.cuda.is_available(), reason="no usable CUDA device")
@pytest.mark.parametrize("need_weights", [True, False])
def test_attention_on_cuda_matches_cpu(need_weights):
    # Compositions of existing ops only: the same values and gradients on the GPU as on the CPU.
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, dtype=rg.float64)
    mha = nn.MultiheadAttention(8, 2, kdim=6, vdim=6, add_bias_kv=True, add_zero_attn=True, dtype=rg.float64)
    x, kv = arr(2, 5, 8), arr(4, 2, 6)
    pad = np.zeros((2, 5), bool)
    pad[1, 3:] = True
    mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=rg.float64)
    results = []
    for device in ("cpu", "cuda"):
        lay, att = copy.deepcopy(layer).to(device), copy.deepcopy(mha).to(device)
        xs = rg.tensor(x, device=device, requires_grad=True)
        kvs = rg.tensor(kv, device=device, requires_grad=True)
        out = lay(xs, src_mask=mask.to(device), src_key_padding_mask=rg.tensor(pad).to(device), is_causal=True)
        a, w = att(xs.transpose(0, 1)[:4], kvs, kvs, need_weights=need_weights)
        q = F.scaled_dot_product_attention(xs, xs, xs, is_causal=True)
        loss = out.sum() + (a * a).sum() + q.sum() + (0 if w is None else (w * w).sum())
        loss.backward()
        grads = [xs.grad, kvs.grad] + [p.grad for p in lay.parameters()] + [p.grad for p in att.parameters()]
        results.append([t.detach().cpu().numpy() for t in [out, a, q] + grads])
    for c, g in zip(*results):
        np.testing.assert_allclose(g, c, rtol=1e-9, atol=1e-10)
