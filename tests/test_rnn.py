"""Recurrent layers (RNN, LSTM, GRU and their cells): values against numpy (float64), gradients against
finite differences, PyTorch parity (outputs, final states, gradients of the input, the initial states and
every parameter; state_dict keys and reprs) and PyTorch's error messages."""

import copy
import re
import warnings

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
from rustgrad.autograd import gradcheck

from op_testing import seed  # noqa: F401 (an autouse fixture: rg.manual_seed(0) before each test)

MODES = ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"]
CELLS = ["RNNCell_tanh", "RNNCell_relu", "LSTMCell", "GRUCell"]


def rnd(*shape, seed=0):
    return np.random.default_rng(seed + 31 * len(shape) + sum(shape)).standard_normal(shape)


def make(lib, mode, *args, **kw):
    """``lib.nn.RNN/LSTM/GRU`` for a mode name (lib is rustgrad or torch)."""
    if mode.startswith("RNN_"):
        return lib.nn.RNN(*args, nonlinearity=mode[4:].lower(), **kw)
    return getattr(lib.nn, mode)(*args, **kw)


def make_cell(lib, name, *args, **kw):
    if name.startswith("RNNCell_"):
        return lib.nn.RNNCell(*args, nonlinearity=name[8:], **kw)
    return getattr(lib.nn, name)(*args, **kw)


def params_np(module):
    return {k: v.detach().numpy().astype(np.float64) for k, v in module.state_dict().items()}


# ----- numpy references ----------------------------------------------------------------------------

def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_step(mode, x, h, c, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None):
    """One step of a cell, written from the equations in PyTorch's documentation."""
    gi = x @ w_ih.T + (0 if b_ih is None else b_ih)
    gh = h @ w_hh.T + (0 if b_hh is None else b_hh)
    if mode in ("RNN_TANH", "RNNCell_tanh"):
        return np.tanh(gi + gh), None
    if mode in ("RNN_RELU", "RNNCell_relu"):
        return np.maximum(gi + gh, 0.0), None
    hs = w_hh.shape[0] // (4 if mode.startswith("LSTM") else 3)
    if mode.startswith("LSTM"):
        g = gi + gh
        i, f, gg, o = (g[:, k * hs:(k + 1) * hs] for k in range(4))
        c2 = sig(f) * c + sig(i) * np.tanh(gg)
        h2 = sig(o) * np.tanh(c2)
        if w_hr is not None:
            h2 = h2 @ w_hr.T
        return h2, c2
    r = sig(gi[:, :hs] + gh[:, :hs])
    z = sig(gi[:, hs:2 * hs] + gh[:, hs:2 * hs])
    n = np.tanh(gi[:, 2 * hs:] + r * gh[:, 2 * hs:])
    return (1 - z) * n + z * h, None


def np_rnn(mode, p, x, h0, c0, num_layers, bidirectional, bias, proj=False):
    """The stacked (bidirectional) recurrence over x (seq, batch, feature) from the cell above."""
    dirs = 2 if bidirectional else 1
    layer_in = x
    hn, cn = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w = [p["weight_ih" + sfx], p["weight_hh" + sfx]]
            w += [p["bias_ih" + sfx], p["bias_hh" + sfx]] if bias else [None, None]
            w += [p["weight_hr" + sfx]] if proj else [None]
            idx = layer * dirs + d
            h, c = h0[idx], (None if c0 is None else c0[idx])
            out = [None] * x.shape[0]
            for t in (range(x.shape[0]) if d == 0 else reversed(range(x.shape[0]))):
                h, c = np_step(mode, layer_in[t], h, c, *w)
                out[t] = h
            outs.append(np.stack(out))
            hn.append(h)
            cn.append(c)
        layer_in = np.concatenate(outs, axis=2)
    return layer_in, np.stack(hn), (None if c0 is None else np.stack(cn))


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_hx", [True, False])
@pytest.mark.parametrize("batched", [True, False])
def test_cell_matches_numpy(name, bias, with_hx, batched):
    cell = make_cell(rg, name, 3, 4, bias=bias, dtype=rg.float64)
    p = params_np(cell)
    x = rnd(2, 3) if batched else rnd(3)
    h = rnd(2, 4, seed=1) if batched else rnd(4, seed=1)
    c = rnd(2, 4, seed=2) if batched else rnd(4, seed=2)
    lstm = name == "LSTMCell"
    hx = None
    if with_hx:
        hx = (rg.tensor(h), rg.tensor(c)) if lstm else rg.tensor(h)
    out = cell(rg.tensor(x), hx)
    x2, h2, c2 = np.atleast_2d(x), np.atleast_2d(h), np.atleast_2d(c)
    if not with_hx:
        h2, c2 = np.zeros_like(h2), np.zeros_like(c2)
    eh, ec = np_step(name, x2, h2, c2, p["weight_ih"], p["weight_hh"], p.get("bias_ih"), p.get("bias_hh"))
    if not batched:
        eh, ec = eh[0], (None if ec is None else ec[0])
    if lstm:
        assert isinstance(out, tuple) and len(out) == 2
        np.testing.assert_allclose(out[0].detach().numpy(), eh, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(out[1].detach().numpy(), ec, rtol=1e-12, atol=1e-13)
    else:
        assert tuple(out.shape) == eh.shape
        np.testing.assert_allclose(out.detach().numpy(), eh, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True), (3, False), (1, True)])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_layer_matches_numpy(mode, num_layers, bidirectional, batch_first, bias):
    m = make(rg, mode, 3, 4, num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional,
             dtype=rg.float64)
    dirs = 2 if bidirectional else 1
    x = rnd(5, 2, 3)
    h0, c0 = rnd(num_layers * dirs, 2, 4, seed=1), rnd(num_layers * dirs, 2, 4, seed=2)
    xin = x.transpose(1, 0, 2) if batch_first else x
    hx = (rg.tensor(h0), rg.tensor(c0)) if mode == "LSTM" else rg.tensor(h0)
    out, hn = m(rg.tensor(xin), hx)
    eo, eh, ec = np_rnn(mode, params_np(m), x, h0, c0 if mode == "LSTM" else None, num_layers, bidirectional, bias)
    if batch_first:
        eo = eo.transpose(1, 0, 2)
    np.testing.assert_allclose(out.detach().numpy(), eo, rtol=1e-12, atol=1e-13)
    if mode == "LSTM":
        np.testing.assert_allclose(hn[0].detach().numpy(), eh, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(hn[1].detach().numpy(), ec, rtol=1e-12, atol=1e-13)
    else:
        np.testing.assert_allclose(hn.detach().numpy(), eh, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_proj_matches_numpy(bidirectional):
    m = nn.LSTM(3, 5, 2, bidirectional=bidirectional, proj_size=2, dtype=rg.float64)
    dirs = 2 if bidirectional else 1
    assert tuple(m.weight_hr_l0.shape) == (2, 5) and tuple(m.weight_hh_l1.shape) == (20, 2)
    assert tuple(m.weight_ih_l1.shape) == (20, 2 * dirs)
    x, h0, c0 = rnd(4, 2, 3), rnd(2 * dirs, 2, 2, seed=1), rnd(2 * dirs, 2, 5, seed=2)
    out, (hn, cn) = m(rg.tensor(x), (rg.tensor(h0), rg.tensor(c0)))
    eo, eh, ec = np_rnn("LSTM", params_np(m), x, h0, c0, 2, bidirectional, True, proj=True)
    assert tuple(out.shape) == (4, 2, 2 * dirs) and tuple(hn.shape) == (2 * dirs, 2, 2)
    assert tuple(cn.shape) == (2 * dirs, 2, 5)
    for got, want in [(out, eo), (hn, eh), (cn, ec)]:
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-12, atol=1e-13)
    out0, (hz, cz) = m(rg.tensor(x))  # zero states of the projected and the cell size
    assert tuple(hz.shape) == (2 * dirs, 2, 2) and tuple(cz.shape) == (2 * dirs, 2, 5)


# ----- gradients by finite differences -------------------------------------------------------------

@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("bias", [True, False])
def test_cell_gradcheck(name, bias):
    cell = make_cell(rg, name, 3, 2, bias=bias, dtype=rg.float64)
    x = rg.tensor(rnd(2, 3), requires_grad=True)
    h = rg.tensor(rnd(2, 2, seed=1), requires_grad=True)
    c = rg.tensor(rnd(2, 2, seed=2), requires_grad=True)
    params = tuple(cell.parameters())
    if name == "LSTMCell":
        assert gradcheck(lambda x, h, c, *ps: cell(x, (h, c)), (x, h, c) + params)
    else:
        assert gradcheck(lambda x, h, *ps: cell(x, h), (x, h) + params)


@pytest.mark.parametrize("mode", MODES)
def test_two_layer_bidirectional_gradcheck(mode):
    m = make(rg, mode, 3, 2, 2, bidirectional=True, dtype=rg.float64)
    x = rg.tensor(rnd(3, 2, 3), requires_grad=True)
    h0 = rg.tensor(rnd(4, 2, 2, seed=1), requires_grad=True)
    c0 = rg.tensor(rnd(4, 2, 2, seed=2), requires_grad=True)
    if mode == "LSTM":
        assert gradcheck(lambda x, h, c: (lambda o, s: (o, s[0], s[1]))(*m(x, (h, c))), (x, h0, c0))
    else:
        assert gradcheck(lambda x, h: m(x, h), (x, h0))


def test_lstm_proj_gradcheck_with_parameters():
    m = nn.LSTM(2, 3, 2, bidirectional=True, proj_size=1, batch_first=True, dtype=rg.float64)
    x = rg.tensor(rnd(1, 3, 2), requires_grad=True)
    h0 = rg.tensor(rnd(4, 1, 1, seed=1), requires_grad=True)
    c0 = rg.tensor(rnd(4, 1, 3, seed=2), requires_grad=True)
    params = tuple(m.parameters())
    assert gradcheck(lambda x, h, c, *ps: (lambda o, s: (o, s[0], s[1]))(*m(x, (h, c))), (x, h0, c0) + params)


# ----- construction: parameters, init, names, repr --------------------------------------------------

@pytest.mark.parametrize("name,chunks", [("RNNCell_tanh", 1), ("LSTMCell", 4), ("GRUCell", 3)])
def test_cell_parameters_and_init(name, chunks):
    cell = make_cell(rg, name, 7, 16)
    assert [n for n, _ in cell.named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    shapes = [tuple(p.shape) for p in cell.parameters()]
    assert shapes == [(chunks * 16, 7), (chunks * 16, 16), (chunks * 16,), (chunks * 16,)]
    for p in cell.parameters():
        assert p.dtype == rg.float32
    a = np.concatenate([p.detach().numpy().ravel() for p in cell.parameters()])
    assert np.abs(a).max() <= 0.25 and np.abs(a).max() > 0.245  # U(-1/sqrt(16), 1/sqrt(16))
    assert abs(a.mean()) < 0.02 and abs(a.std() - 0.25 / np.sqrt(3)) < 0.01
    nobias = make_cell(rg, name, 7, 16, bias=False)
    assert list(nobias.state_dict()) == ["weight_ih", "weight_hh"]
    assert nobias.bias_ih is None and nobias.bias_hh is None


def test_layer_init_and_dtype():
    m = nn.GRU(5, 9, 2, bidirectional=True, dtype=rg.float64)
    for p in m.parameters():
        a = p.detach().numpy()
        assert p.dtype == rg.float64
        assert len(np.unique(a)) == a.size
    a = np.concatenate([p.detach().numpy().ravel() for p in m.parameters()])
    assert np.abs(a).max() <= 1 / 3 and np.abs(a).max() > 0.33  # U(-1/sqrt(9), 1/sqrt(9))


def test_state_dict_keys_and_order():
    m = nn.LSTM(3, 4, 2, bidirectional=True)
    assert list(m.state_dict()) == [
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
        "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
        "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
        "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse"]
    assert [tuple(v.shape) for v in m.state_dict().values()][:4] == [(16, 3), (16, 4), (16,), (16,)]
    assert tuple(m.weight_ih_l1.shape) == (16, 8)
    g = nn.GRU(3, 4, 2, bias=False)
    assert list(g.state_dict()) == ["weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1"]
    p = nn.LSTM(3, 4, proj_size=2)
    assert list(p.state_dict()) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"]


def test_all_weights_and_flatten_parameters():
    m = nn.RNN(3, 4, 2, bidirectional=True, bias=False)
    aw = m.all_weights
    assert len(aw) == 4 and all(len(ws) == 2 for ws in aw)
    assert aw[1][0] is m.weight_ih_l0_reverse and aw[2][1] is m.weight_hh_l1
    assert m._flat_weights_names[:2] == ["weight_ih_l0", "weight_hh_l0"]
    before = [p.detach().numpy().copy() for p in m.parameters()]
    assert m.flatten_parameters() is None
    assert all(np.array_equal(a, p.detach().numpy()) for a, p in zip(before, m.parameters()))
    # all_weights follows a replaced parameter and a dtype conversion
    m.weight_hh_l1 = nn.Parameter(rg.zeros(4, 4))
    assert m.all_weights[2][1] is m.weight_hh_l1
    m.double()
    assert all(w.dtype == rg.float64 for ws in m.all_weights for w in ws)
    out, h = m(rg.randn(2, 1, 3, dtype=rg.float64))
    assert out.dtype == rg.float64


def test_reprs():
    assert repr(nn.LSTM(10, 20, 2, bias=False, batch_first=True, dropout=0.5, bidirectional=True, proj_size=5)) == \
        "LSTM(10, 20, proj_size=5, num_layers=2, bias=False, batch_first=True, dropout=0.5, bidirectional=True)"
    assert repr(nn.GRU(3, 4, dropout=0.0)) == "GRU(3, 4)"
    assert repr(nn.RNN(10, 20, 2, "relu")) == "RNN(10, 20, num_layers=2)"
    assert repr(nn.RNNCell(10, 20, bias=False, nonlinearity="relu")) == "RNNCell(10, 20, bias=False, nonlinearity=relu)"
    assert repr(nn.LSTMCell(10, 20)) == "LSTMCell(10, 20)"
    assert repr(nn.GRUCell(1, 2, False)) == "GRUCell(1, 2, bias=False)"


def test_positional_nonlinearity_and_constants():
    m = nn.RNN(3, 4, 2, "relu", False)
    assert m.nonlinearity == "relu" and m.mode == "RNN_RELU" and m.bias is False and m.num_layers == 2
    assert nn.GRU(3, 4).mode == "GRU" and nn.LSTM(3, 4).proj_size == 0
    assert isinstance(nn.LSTM(3, 4).dropout, float)


# ----- forward behaviour -----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched_equals_batch_of_one(mode, batch_first):
    m = make(rg, mode, 3, 4, 2, bidirectional=True, batch_first=batch_first, dtype=rg.float64)
    x = rg.tensor(rnd(5, 3))
    h0, c0 = rg.tensor(rnd(4, 4, seed=1)), rg.tensor(rnd(4, 4, seed=2))
    hx = (h0, c0) if mode == "LSTM" else h0
    out, hn = m(x, hx)
    bdim = 0 if batch_first else 1
    hxb = (h0.unsqueeze(1), c0.unsqueeze(1)) if mode == "LSTM" else h0.unsqueeze(1)
    outb, hnb = m(x.unsqueeze(bdim), hxb)
    assert tuple(out.shape) == (5, 8)
    np.testing.assert_array_equal(out.detach().numpy(), outb.squeeze(bdim).detach().numpy())
    if mode == "LSTM":
        assert tuple(hn[0].shape) == (4, 4) and tuple(hn[1].shape) == (4, 4)
        np.testing.assert_array_equal(hn[1].detach().numpy(), hnb[1].squeeze(1).detach().numpy())
    else:
        assert tuple(hn.shape) == (4, 4)
        np.testing.assert_array_equal(hn.detach().numpy(), hnb.squeeze(1).detach().numpy())


@pytest.mark.parametrize("mode", MODES)
def test_no_hx_means_zeros(mode):
    m = make(rg, mode, 3, 4, 2, dtype=rg.float64)
    x = rg.tensor(rnd(5, 2, 3))
    z = rg.zeros(2, 2, 4, dtype=rg.float64)
    a, ha = m(x)
    b, hb = m(x, (z, z) if mode == "LSTM" else z)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_empty_batch():
    out, (h, c) = nn.LSTM(3, 4, bidirectional=True)(rg.randn(5, 0, 3))
    assert tuple(out.shape) == (5, 0, 8) and tuple(h.shape) == (2, 0, 4) and tuple(c.shape) == (2, 0, 4)


def test_dropout_between_layers_training_only():
    m = nn.GRU(3, 4, 2, dropout=1.0, dtype=rg.float64)
    x1, x2 = rg.tensor(rnd(5, 2, 3)), rg.tensor(rnd(5, 2, 3, seed=9))
    # With p = 1 the second layer sees zeros in training: its outputs do not depend on the input ...
    o1, h1 = m(x1)
    o2, h2 = m(x2)
    np.testing.assert_array_equal(o1.detach().numpy(), o2.detach().numpy())
    assert np.all(o1.detach().numpy() != 0)  # no dropout after the last layer
    np.testing.assert_array_equal(o1[-1].detach().numpy(), h1[-1].detach().numpy())
    # ... but the first layer's final state does (no dropout on the last layer's or any hidden state)
    assert not np.allclose(h1[0].detach().numpy(), h2[0].detach().numpy())
    m.eval()
    e1, g1 = m(x1)
    e2, _ = m(x2)
    assert not np.allclose(e1.detach().numpy(), e2.detach().numpy())
    np.testing.assert_array_equal(g1[0].detach().numpy(), h1[0].detach().numpy())
    # p = 0.5 in training differs from eval; eval is deterministic
    m2 = nn.LSTM(3, 4, 2, dropout=0.5, dtype=rg.float64)
    t1, _ = m2(x1)
    m2.eval()
    v1, _ = m2(x1)
    v2, _ = m2(x1)
    assert not np.allclose(t1.detach().numpy(), v1.detach().numpy())
    np.testing.assert_array_equal(v1.detach().numpy(), v2.detach().numpy())


def test_dropout_warning_with_one_layer():
    msg = ("dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
           "num_layers greater than 1, but got dropout=0.5 and num_layers=1")
    with pytest.warns(UserWarning, match=re.escape(msg)):
        nn.LSTM(10, 20, dropout=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.LSTM(10, 20, 2, dropout=0.5)
        nn.GRU(10, 20, dropout=0)


def test_backward_reaches_input_states_and_parameters():
    m = nn.LSTM(3, 4, 2, bidirectional=True)
    x = rg.randn(5, 2, 3, requires_grad=True)
    h0 = rg.randn(4, 2, 4, requires_grad=True)
    c0 = rg.randn(4, 2, 4, requires_grad=True)
    out, (h, c) = m(x, (h0, c0))
    (out.sum() + h.sum() + c.sum()).backward()
    assert x.grad is not None and h0.grad is not None and c0.grad is not None
    assert all(p.grad is not None and np.abs(p.grad.detach().numpy()).sum() > 0 for p in m.parameters())


# ----- errors, worded as PyTorch's -----------------------------------------------------------------

def _r(lib, *shape, dtype=None):
    return lib.randn(*shape, dtype=dtype or lib.float32)


# (id, call taking the library, exception type, message; "{lib}" stands for rustgrad / torch)
ERRORS = [
    ("rnn_4d", lambda L: L.nn.RNN(10, 20)(_r(L, 1, 2, 3, 10)), ValueError,
     "RNN: Expected input to be 2D or 3D, got 4D tensor instead"),
    ("rnn_relu_1d", lambda L: L.nn.RNN(10, 20, nonlinearity="relu")(_r(L, 10)), ValueError,
     "RNN: Expected input to be 2D or 3D, got 1D tensor instead"),
    ("lstm_4d", lambda L: L.nn.LSTM(10, 20)(_r(L, 1, 2, 3, 10)), ValueError,
     "LSTM: Expected input to be 2D or 3D, got 4D instead"),
    ("gru_1d", lambda L: L.nn.GRU(10, 20)(_r(L, 10)), ValueError, "GRU: Expected input to be 2D or 3D, got 1D instead"),
    ("rnn_input_size", lambda L: L.nn.RNN(10, 20)(_r(L, 5, 3, 7)), RuntimeError,
     "input.size(-1) must be equal to input_size. Expected 10, got 7"),
    ("lstm_input_size", lambda L: L.nn.LSTM(10, 20)(_r(L, 5, 7)), RuntimeError,
     "input.size(-1) must be equal to input_size. Expected 10, got 7"),
    ("gru_input_size", lambda L: L.nn.GRU(10, 20, batch_first=True)(_r(L, 5, 3, 9)), RuntimeError,
     "input.size(-1) must be equal to input_size. Expected 10, got 9"),
    ("rnn_hx_size", lambda L: L.nn.RNN(10, 20)(_r(L, 5, 3, 10), _r(L, 2, 3, 20)), RuntimeError,
     "Expected hidden size (1, 3, 20), got [2, 3, 20]"),
    ("gru_hx_batch_first", lambda L: L.nn.GRU(10, 20, 2, batch_first=True, bidirectional=True)(
        _r(L, 5, 3, 10), _r(L, 4, 3, 20)), RuntimeError, "Expected hidden size (4, 5, 20), got [4, 3, 20]"),
    ("gru_hx_size_unbatched", lambda L: L.nn.GRU(10, 20)(_r(L, 5, 10), _r(L, 1, 21)), RuntimeError,
     "Expected hidden size (1, 1, 20), got [1, 1, 21]"),
    ("rnn_hx_2d_batched", lambda L: L.nn.RNN(10, 20)(_r(L, 5, 3, 10), _r(L, 3, 20)), RuntimeError,
     "For batched 3-D input, hx should also be 3-D but got 2-D tensor"),
    ("gru_hx_3d_unbatched", lambda L: L.nn.GRU(10, 20)(_r(L, 5, 10), _r(L, 1, 1, 20)), RuntimeError,
     "For unbatched 2-D input, hx should also be 2-D but got 3-D tensor"),
    ("lstm_h_size", lambda L: L.nn.LSTM(10, 20)(_r(L, 5, 3, 10), (_r(L, 2, 3, 20), _r(L, 1, 3, 20))), RuntimeError,
     "Expected hidden[0] size (1, 3, 20), got [2, 3, 20]"),
    ("lstm_c_size", lambda L: L.nn.LSTM(10, 20)(_r(L, 5, 3, 10), (_r(L, 1, 3, 20), _r(L, 1, 3, 21))), RuntimeError,
     "Expected hidden[1] size (1, 3, 20), got [1, 3, 21]"),
    ("lstm_proj_h_size", lambda L: L.nn.LSTM(10, 20, proj_size=4)(_r(L, 5, 3, 10), (_r(L, 1, 3, 20), _r(L, 1, 3, 20))),
     RuntimeError, "Expected hidden[0] size (1, 3, 4), got [1, 3, 20]"),
    ("lstm_hx_dims_batched", lambda L: L.nn.LSTM(10, 20)(_r(L, 5, 3, 10), (_r(L, 3, 20), _r(L, 1, 3, 20))),
     RuntimeError, "For batched 3-D input, hx and cx should also be 3-D but got (2-D, 3-D) tensors"),
    ("lstm_hx_dims_unbatched", lambda L: L.nn.LSTM(10, 20)(_r(L, 5, 10), (_r(L, 3, 1, 20), _r(L, 1, 20))),
     RuntimeError, "For unbatched 2-D input, hx and cx should also be 2-D but got (3-D, 2-D) tensors"),
    ("input_dtype", lambda L: L.nn.LSTM(10, 20)(_r(L, 5, 3, 10, dtype=L.float64)), ValueError,
     "RNN input dtype ({lib}.float64) does not match weight dtype ({lib}.float32). Convert input: "
     "input.to({lib}.float32), or convert model: model.to({lib}.float64)"),
    ("hx_dtype", lambda L: L.nn.GRU(10, 20)(_r(L, 5, 3, 10), _r(L, 1, 3, 20, dtype=L.float64)), RuntimeError,
     "mat1 and mat2 must have the same dtype, but got Double and Float"),
    ("hx_dtype_double_model", lambda L: L.nn.RNN(10, 20, dtype=L.float64)(_r(L, 5, 3, 10, dtype=L.float64),
                                                                           _r(L, 1, 3, 20)), RuntimeError,
     "mat1 and mat2 must have the same dtype, but got Float and Double"),
    ("seq_len_0", lambda L: L.nn.GRU(10, 20)(_r(L, 0, 3, 10)), RuntimeError,
     "Expected sequence length to be larger than 0 in RNN"),
    ("dropout_range", lambda L: L.nn.LSTM(10, 20, dropout=1.5), ValueError,
     "dropout should be a number in range [0, 1] representing the probability of an element being zeroed"),
    ("dropout_negative", lambda L: L.nn.GRU(10, 20, 2, dropout=-0.1), ValueError,
     "dropout should be a number in range [0, 1] representing the probability of an element being zeroed"),
    ("dropout_bool", lambda L: L.nn.LSTM(10, 20, dropout=True), ValueError,
     "dropout should be a number in range [0, 1] representing the probability of an element being zeroed"),
    ("dropout_str", lambda L: L.nn.GRU(10, 20, dropout="a"), ValueError, "could not convert string to float: 'a'"),
    ("bias_type", lambda L: L.nn.LSTM(10, 20, bias=1), TypeError, "bias should be of type bool, got: int"),
    ("batch_first_type", lambda L: L.nn.LSTM(10, 20, batch_first=None), TypeError,
     "batch_first should be of type bool, got: NoneType"),
    ("input_size_type", lambda L: L.nn.LSTM(10.0, 20), TypeError, "input_size should be of type int, got: float"),
    ("input_size_zero", lambda L: L.nn.LSTM(0, 20), ValueError, "input_size must be greater than zero"),
    ("hidden_size_type", lambda L: L.nn.RNN(10, "a"), TypeError, "hidden_size should be of type int, got: str"),
    ("hidden_size_zero", lambda L: L.nn.GRU(10, 0), ValueError, "hidden_size must be greater than zero"),
    ("num_layers_zero", lambda L: L.nn.LSTM(10, 20, 0), ValueError, "num_layers must be greater than zero"),
    ("proj_negative", lambda L: L.nn.LSTM(10, 20, proj_size=-1), ValueError,
     "proj_size should be a positive integer or zero to disable projections"),
    ("proj_too_big", lambda L: L.nn.LSTM(10, 20, proj_size=20), ValueError,
     "proj_size has to be smaller than hidden_size"),
    ("rnn_proj", lambda L: L.nn.RNN(10, 20, proj_size=2), ValueError,
     "proj_size argument is only supported for LSTM, not RNN or GRU"),
    ("gru_proj", lambda L: L.nn.GRU(10, 20, proj_size=2), ValueError,
     "proj_size argument is only supported for LSTM, not RNN or GRU"),
    ("rnn_nonlinearity", lambda L: L.nn.RNN(10, 20, nonlinearity="sigmoid"), ValueError,
     "Unknown nonlinearity 'sigmoid'. Select from 'tanh' or 'relu'."),
    ("cell_3d", lambda L: L.nn.RNNCell(10, 20)(_r(L, 1, 3, 10)), ValueError,
     "RNNCell: Expected input to be 1D or 2D, got 3D instead"),
    ("cell_hidden_3d", lambda L: L.nn.RNNCell(10, 20)(_r(L, 3, 10), _r(L, 1, 3, 20)), ValueError,
     "RNNCell: Expected hidden to be 1D or 2D, got 3D instead"),
    ("cell_input_size", lambda L: L.nn.RNNCell(10, 20)(_r(L, 3, 7)), RuntimeError,
     "input has inconsistent input_size: got 7 expected 10"),
    ("cell_input_size_first", lambda L: L.nn.RNNCell(10, 20)(_r(L, 7), _r(L, 1, 20)), RuntimeError,
     "input has inconsistent input_size: got 7 expected 10"),
    ("cell_hx_batch", lambda L: L.nn.RNNCell(10, 20)(_r(L, 3, 10), _r(L, 2, 20)), RuntimeError,
     "Input batch size 3 doesn't match hidden0 batch size 2"),
    ("cell_hx_hidden", lambda L: L.nn.RNNCell(10, 20)(_r(L, 3, 10), _r(L, 3, 21)), RuntimeError,
     "hidden0 has inconsistent hidden_size: got 21, expected 20"),
    ("cell_unbatched_hx_2d", lambda L: L.nn.RNNCell(10, 20)(_r(L, 10), _r(L, 1, 20)), RuntimeError,
     "Expected 2D hidden0 (batch x hidden_size), but got 3D tensor"),
    ("cell_batched_hx_1d", lambda L: L.nn.GRUCell(10, 20)(_r(L, 3, 10), _r(L, 20)), RuntimeError,
     "Expected 2D hidden0 (batch x hidden_size), but got 1D tensor"),
    ("cell_nonlinearity", lambda L: L.nn.RNNCell(10, 20, nonlinearity="foo")(_r(L, 3, 10)), RuntimeError,
     "Unknown nonlinearity: foo"),
    ("cell_input_dtype", lambda L: L.nn.RNNCell(10, 20)(_r(L, 3, 10, dtype=L.float64), _r(L, 3, 20)), RuntimeError,
     "mat1 and mat2 must have the same dtype, but got Double and Float"),
    ("cell_hx_dtype", lambda L: L.nn.GRUCell(10, 20)(_r(L, 3, 10), _r(L, 3, 20, dtype=L.float64)), RuntimeError,
     "mat1 and mat2 must have the same dtype, but got Double and Float"),
    ("lstmcell_3d", lambda L: L.nn.LSTMCell(10, 20)(_r(L, 1, 3, 10)), ValueError,
     "LSTMCell: Expected input to be 1D or 2D, got 3D instead"),
    ("lstmcell_hx1_3d", lambda L: L.nn.LSTMCell(10, 20)(_r(L, 3, 10), (_r(L, 3, 20), _r(L, 1, 3, 20))), ValueError,
     "LSTMCell: Expected hx[1] to be 1D or 2D, got 3D instead"),
    ("lstmcell_input_size", lambda L: L.nn.LSTMCell(10, 20)(_r(L, 3, 7)), RuntimeError,
     "input has inconsistent input_size: got 7 expected 10"),
    ("lstmcell_h_batch", lambda L: L.nn.LSTMCell(10, 20)(_r(L, 3, 10), (_r(L, 2, 20), _r(L, 3, 20))), RuntimeError,
     "Input batch size 3 doesn't match hidden0 batch size 2"),
    ("lstmcell_c_batch", lambda L: L.nn.LSTMCell(10, 20)(_r(L, 3, 10), (_r(L, 3, 20), _r(L, 2, 20))), RuntimeError,
     "Input batch size 3 doesn't match hidden1 batch size 2"),
    ("lstmcell_c_hidden", lambda L: L.nn.LSTMCell(10, 20)(_r(L, 3, 10), (_r(L, 3, 20), _r(L, 3, 21))), RuntimeError,
     "hidden1 has inconsistent hidden_size: got 21, expected 20"),
    ("lstmcell_h_before_c", lambda L: L.nn.LSTMCell(10, 20)(_r(L, 10), (_r(L, 21), _r(L, 1, 20))), RuntimeError,
     "hidden0 has inconsistent hidden_size: got 21, expected 20"),
    ("lstmcell_c_2d_unbatched", lambda L: L.nn.LSTMCell(10, 20)(_r(L, 10), (_r(L, 20), _r(L, 1, 20))), RuntimeError,
     "Expected 2D hidden1 (batch x hidden_size), but got 3D tensor"),
    ("lstmcell_one_state", lambda L: L.nn.LSTMCell(10, 20)(_r(L, 3, 10), (_r(L, 3, 20),)), RuntimeError,
     "lstm_cell expects two hidden states"),
    ("grucell_0d", lambda L: L.nn.GRUCell(10, 20)(_r(L, 1)[0]), ValueError,
     "GRUCell: Expected input to be 1D or 2D, got 0D instead"),
    ("grucell_hidden_3d", lambda L: L.nn.GRUCell(10, 20)(_r(L, 3, 10), _r(L, 1, 3, 20)), ValueError,
     "GRUCell: Expected hidden to be 1D or 2D, got 3D instead"),
    ("grucell_hidden", lambda L: L.nn.GRUCell(10, 20)(_r(L, 3, 10), _r(L, 3, 19)), RuntimeError,
     "hidden0 has inconsistent hidden_size: got 19, expected 20"),
]


@pytest.mark.parametrize("case", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors(case):
    _, call, exc, msg = case
    with pytest.raises(exc, match=re.escape(msg.format(lib="rustgrad"))):
        call(rg)


@pytest.mark.parametrize("case", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_are_pytorchs(case):
    torch = pytest.importorskip("torch")
    _, call, exc, msg = case
    with pytest.raises(exc, match=re.escape(msg.format(lib="torch"))):
        call(torch)


# ----- PyTorch parity ----------------------------------------------------------------------------

DTYPES = ["float64", "float32"]
TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=2e-4, atol=2e-5)}


def _copy_state(torch_module, rg_module):
    rg_module.load_state_dict({k: rg.tensor(v.detach().cpu().detach().numpy()) for k, v in torch_module.state_dict().items()})


def _compare(torch, tm, rm, x, hx, lstm, dtype, cotangent_seed=5):
    """Runs both modules on the same numpy input/states, backpropagates the same weighted sum, and
    compares outputs, states and the gradients of the input, the states and every parameter."""
    tdt, rdt = getattr(torch, dtype), getattr(rg, dtype)
    tx = torch.tensor(x, dtype=tdt, requires_grad=True)
    rx = rg.tensor(x, dtype=rdt, requires_grad=True)
    ths = [torch.tensor(h, dtype=tdt, requires_grad=True) for h in hx] if hx is not None else None
    rhs = [rg.tensor(h, dtype=rdt, requires_grad=True) for h in hx] if hx is not None else None
    if hx is None:
        tout, ts = tm(tx)
        rout, rs = rm(rx)
    elif lstm:
        tout, ts = tm(tx, tuple(ths))
        rout, rs = rm(rx, tuple(rhs))
    else:
        tout, ts = tm(tx, ths[0])
        rout, rs = rm(rx, rhs[0])
    touts = [tout] + (list(ts) if lstm else [ts])
    routs = [rout] + (list(rs) if lstm else [rs])
    tloss, rloss = 0, 0
    for k, (a, b) in enumerate(zip(touts, routs)):
        assert tuple(a.shape) == tuple(b.shape)
        assert b.dtype == rdt
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), **TOL[dtype])
        w = rnd(*a.shape, seed=cotangent_seed + k)
        tloss = tloss + (a * torch.tensor(w, dtype=tdt)).sum()
        rloss = rloss + (b * rg.tensor(w, dtype=rdt)).sum()
    tloss.backward()
    rloss.backward()
    np.testing.assert_allclose(rx.grad.detach().numpy(), tx.grad.detach().numpy(), **TOL[dtype])
    if hx is not None:
        for a, b in zip(ths, rhs):
            np.testing.assert_allclose(b.grad.detach().numpy(), a.grad.detach().numpy(), **TOL[dtype])
    tparams, rparams = dict(tm.named_parameters()), dict(rm.named_parameters())
    assert list(tparams) == list(rparams)
    for name in tparams:
        np.testing.assert_allclose(rparams[name].grad.detach().numpy(), tparams[name].grad.detach().numpy(), **TOL[dtype],
                                   err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_hx", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("mode", MODES)
def test_layer_parity_torch(mode, num_layers, bidirectional, batch_first, bias, with_hx, dtype):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    kw = dict(bias=bias, batch_first=batch_first, bidirectional=bidirectional)
    tm = make(torch, mode, 3, 4, num_layers, dtype=getattr(torch, dtype), **kw)
    rm = make(rg, mode, 3, 4, num_layers, dtype=getattr(rg, dtype), **kw)
    _copy_state(tm, rm)
    dirs = 2 if bidirectional else 1
    x = rnd(2, 5, 3) if batch_first else rnd(5, 2, 3)
    hx = None
    if with_hx:
        hx = [rnd(num_layers * dirs, 2, 4, seed=1)] + ([rnd(num_layers * dirs, 2, 4, seed=2)] if mode == "LSTM" else [])
    _compare(torch, tm, rm, x, hx, mode == "LSTM", dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_hx", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("mode", MODES)
def test_layer_parity_torch_unbatched(mode, batch_first, with_hx, dtype):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    tm = make(torch, mode, 3, 4, 2, bidirectional=True, batch_first=batch_first, dtype=getattr(torch, dtype))
    rm = make(rg, mode, 3, 4, 2, bidirectional=True, batch_first=batch_first, dtype=getattr(rg, dtype))
    _copy_state(tm, rm)
    hx = None
    if with_hx:
        hx = [rnd(4, 4, seed=1)] + ([rnd(4, 4, seed=2)] if mode == "LSTM" else [])
    _compare(torch, tm, rm, rnd(6, 3), hx, mode == "LSTM", dtype)


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_hx", [True, False])
@pytest.mark.parametrize("num_layers,bidirectional,batch_first", [(1, False, False), (2, True, True), (2, False, True)])
def test_lstm_proj_parity_torch(num_layers, bidirectional, batch_first, with_hx, dtype):
    torch = pytest.importorskip("torch")
    torch.manual_seed(2)
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, proj_size=2)
    tm = torch.nn.LSTM(3, 5, dtype=getattr(torch, dtype), **kw)
    rm = nn.LSTM(3, 5, dtype=getattr(rg, dtype), **kw)
    _copy_state(tm, rm)
    dirs = 2 if bidirectional else 1
    hx = [rnd(num_layers * dirs, 2, 2, seed=1), rnd(num_layers * dirs, 2, 5, seed=2)] if with_hx else None
    _compare(torch, tm, rm, rnd(2, 4, 3) if batch_first else rnd(4, 2, 3), hx, True, dtype)


def _compare_cell(torch, tc, rc, x, hx, lstm, dtype):
    tdt, rdt = getattr(torch, dtype), getattr(rg, dtype)
    tx = torch.tensor(x, dtype=tdt, requires_grad=True)
    rx = rg.tensor(x, dtype=rdt, requires_grad=True)
    ths = [torch.tensor(h, dtype=tdt, requires_grad=True) for h in hx] if hx is not None else None
    rhs = [rg.tensor(h, dtype=rdt, requires_grad=True) for h in hx] if hx is not None else None
    targ = None if hx is None else (tuple(ths) if lstm else ths[0])
    rarg = None if hx is None else (tuple(rhs) if lstm else rhs[0])
    tout, rout = tc(tx, targ), rc(rx, rarg)
    touts, routs = (list(tout), list(rout)) if lstm else ([tout], [rout])
    tloss, rloss = 0, 0
    for k, (a, b) in enumerate(zip(touts, routs)):
        assert tuple(a.shape) == tuple(b.shape) and b.dtype == rdt
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), **TOL[dtype])
        w = rnd(*a.shape, seed=7 + k)
        tloss = tloss + (a * torch.tensor(w, dtype=tdt)).sum()
        rloss = rloss + (b * rg.tensor(w, dtype=rdt)).sum()
    tloss.backward()
    rloss.backward()
    np.testing.assert_allclose(rx.grad.detach().numpy(), tx.grad.detach().numpy(), **TOL[dtype])
    for a, b in zip(ths or [], rhs or []):
        np.testing.assert_allclose(b.grad.detach().numpy(), a.grad.detach().numpy(), **TOL[dtype])
    for (n, a), (m, b) in zip(tc.named_parameters(), rc.named_parameters()):
        assert n == m
        np.testing.assert_allclose(b.grad.detach().numpy(), a.grad.detach().numpy(), **TOL[dtype], err_msg=n)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_hx", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name", CELLS)
def test_cell_parity_torch(name, bias, with_hx, batched, dtype):
    torch = pytest.importorskip("torch")
    torch.manual_seed(3)
    tc = make_cell(torch, name, 3, 4, bias=bias, dtype=getattr(torch, dtype))
    rc = make_cell(rg, name, 3, 4, bias=bias, dtype=getattr(rg, dtype))
    _copy_state(tc, rc)
    lstm = name == "LSTMCell"
    shape = (2, 4) if batched else (4,)
    hx = ([rnd(*shape, seed=1)] + ([rnd(*shape, seed=2)] if lstm else [])) if with_hx else None
    _compare_cell(torch, tc, rc, rnd(2, 3) if batched else rnd(3), hx, lstm, dtype)


def test_cell_sequence_parity_torch():
    # A cell unrolled by hand over a sequence, as in tutorials: the same values and gradients.
    torch = pytest.importorskip("torch")
    tc, rc = torch.nn.LSTMCell(3, 4, dtype=torch.float64), nn.LSTMCell(3, 4, dtype=rg.float64)
    _copy_state(tc, rc)
    x = rnd(6, 2, 3)
    results = []
    for lib, cell in ((torch, tc), (rg, rc)):
        xs = lib.tensor(x, requires_grad=True)
        h = c = None
        total = 0
        for t in range(6):
            h, c = cell(xs[t], None if h is None else (h, c))
            total = total + (h * h).sum()
        total.backward()
        results.append([total.detach().numpy(), xs.grad.detach().numpy()] + [p.grad.detach().numpy() for p in cell.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


CONFIGS = [
    ("RNN", (10, 20), {}), ("RNN", (10, 20, 2), dict(nonlinearity="relu", bias=False)),
    ("LSTM", (3, 4, 2), dict(bidirectional=True, batch_first=True, dropout=0.25)),
    ("LSTM", (3, 4), dict(proj_size=2, bidirectional=True)), ("LSTM", (3, 6, 3), dict(proj_size=5, bias=False)),
    ("GRU", (3, 4, 2), dict(bias=False, bidirectional=True)), ("GRU", (1, 1), dict(dropout=0.0)),
    ("RNNCell", (3, 4), dict(nonlinearity="relu")), ("RNNCell", (3, 4), dict(bias=False)),
    ("LSTMCell", (3, 4), {}), ("GRUCell", (3, 4), dict(bias=False)),
]


@pytest.mark.parametrize("cls,args,kw", CONFIGS)
def test_state_dict_and_repr_parity_torch(cls, args, kw):
    torch = pytest.importorskip("torch")
    tm, rm = getattr(torch.nn, cls)(*args, **kw), getattr(nn, cls)(*args, **kw)
    tsd, rsd = tm.state_dict(), rm.state_dict()
    assert list(rsd) == list(tsd)
    assert [tuple(v.shape) for v in rsd.values()] == [tuple(v.shape) for v in tsd.values()]
    assert [n for n, _ in rm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert repr(rm) == repr(tm)
    if cls in ("RNN", "LSTM", "GRU"):
        assert [[tuple(w.shape) for w in ws] for ws in rm.all_weights] == \
            [[tuple(w.shape) for w in ws] for ws in tm.all_weights]
        assert rm._flat_weights_names == tm._flat_weights_names
    # a rustgrad state_dict loads into torch
    tm.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in rsd.items()})


def test_init_distribution_parity_torch():
    # Same bound as PyTorch: U(-1/sqrt(hidden), 1/sqrt(hidden)) for every parameter.
    torch = pytest.importorskip("torch")
    for tm, rm in [(torch.nn.LSTM(8, 25, 2), nn.LSTM(8, 25, 2)), (torch.nn.GRUCell(8, 25), nn.GRUCell(8, 25))]:
        for (n, a), (_, b) in zip(tm.named_parameters(), rm.named_parameters()):
            ta, rb = a.detach().numpy(), b.detach().numpy()
            assert np.abs(rb).max() <= 0.2 and np.abs(ta).max() <= 0.2
            assert abs(np.abs(rb).max() - np.abs(ta).max()) < 0.02, n


# ----- on the GPU (skipped without one) --------------------------------------------------------------

@pytest.mark.cuda
@pytest.mark.skipif(not rg.cuda.is_available(), reason="no usable CUDA device")
@pytest.mark.parametrize("mode", MODES)
def test_rnn_on_cuda_matches_cpu(mode):
    m = make(rg, mode, 3, 4, 2, bidirectional=True, batch_first=True, dtype=rg.float64)
    cell = nn.GRUCell(3, 4, dtype=rg.float64)
    x = rnd(2, 5, 3)
    results = []
    for device in ("cpu", "cuda"):
        mm, cc = copy.deepcopy(m).to(device), copy.deepcopy(cell).to(device)
        xs = rg.tensor(x, device=device, requires_grad=True)
        out, hn = mm(xs)
        states = list(hn) if mode == "LSTM" else [hn]
        assert out.device.type == device and all(s.device.type == device for s in states)
        h = cc(xs[:, 0])
        loss = (out * out).sum() + sum((s * s).sum() for s in states) + h.sum()
        loss.backward()
        grads = [xs.grad] + [p.grad for p in mm.parameters()] + [p.grad for p in cc.parameters()]
        results.append([t.detach().cpu().detach().numpy() for t in [out, h] + states + grads])
    for c, g in zip(*results):
        np.testing.assert_allclose(g, c, rtol=1e-9, atol=1e-10)
