"""nn.utils.rnn (PackedSequence, pad/pack/unpack functions) and packed sequences through RNN/LSTM/GRU:
values, batch_sizes and index permutations against PyTorch, gradients by finite differences (float64) and
against PyTorch with the same weights, and PyTorch's errors."""

import numpy as np
import pytest

import rustgrad as rg
import rustgrad.nn as nn
from rustgrad.autograd import gradcheck
from rustgrad.nn.utils import rnn as R

from op_testing import seed  # noqa: F401 (an autouse fixture: rg.manual_seed(0) before each test)

torch = pytest.importorskip("torch")
TR = torch.nn.utils.rnn


def rnd(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def both(array, requires_grad=False):
    """The same float64 data as a rustgrad and a torch tensor."""
    return (rg.tensor(array, dtype=rg.float64, requires_grad=requires_grad),
            torch.tensor(array, dtype=torch.float64, requires_grad=requires_grad))


def same(rg_tensor, torch_tensor, atol=1e-10):
    assert tuple(rg_tensor.shape) == tuple(torch_tensor.shape)
    np.testing.assert_allclose(rg_tensor.detach().numpy(), torch_tensor.detach().numpy(), atol=atol, rtol=1e-9)


def same_packed(rg_packed, torch_packed):
    same(rg_packed.data, torch_packed.data)
    assert rg_packed.batch_sizes.tolist() == torch_packed.batch_sizes.tolist()
    for name in ("sorted_indices", "unsorted_indices"):
        a, b = getattr(rg_packed, name), getattr(torch_packed, name)
        assert (a is None) == (b is None)
        if a is not None:
            assert a.tolist() == b.tolist()


# ----- the packing functions --------------------------------------------------------------------

@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_matches_torch(batch_first, padding_side):
    arrays = [rnd(3, 2, seed=1), rnd(5, 2, seed=2), rnd(1, 2, seed=3)]
    ours = R.pad_sequence([both(a)[0] for a in arrays], batch_first, -1.5, padding_side)
    theirs = TR.pad_sequence([both(a)[1] for a in arrays], batch_first, -1.5, padding_side)
    same(ours, theirs)


@pytest.mark.parametrize("lengths,enforce_sorted", [([4, 2, 2, 1], True), ([2, 4, 1, 2], False),
                                                    ([3, 3, 3, 3], False), ([1, 4, 2, 3], False)])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_pack_and_pad_round_trip_matches_torch(lengths, enforce_sorted, batch_first, as_tensor):
    array = rnd(4, 5, 3) if batch_first else rnd(5, 4, 3)
    x, tx = both(array)
    rg_lengths = rg.tensor(lengths) if as_tensor else lengths
    torch_lengths = torch.tensor(lengths) if as_tensor else lengths
    packed = R.pack_padded_sequence(x, rg_lengths, batch_first, enforce_sorted)
    tpacked = TR.pack_padded_sequence(tx, torch_lengths, batch_first, enforce_sorted)
    assert type(packed) is R.PackedSequence
    same_packed(packed, tpacked)
    for total_length in (None, 7):
        padded, out_lengths = R.pad_packed_sequence(packed, batch_first, 9.0, total_length)
        tpadded, tout_lengths = TR.pad_packed_sequence(tpacked, batch_first, 9.0, total_length)
        same(padded, tpadded)
        assert out_lengths.dtype == rg.int64 and out_lengths.device.type == "cpu"
        assert out_lengths.tolist() == tout_lengths.tolist() == lengths


def test_pack_sequence_unpack_and_unpad_match_torch():
    arrays = [rnd(2, 3, seed=1), rnd(4, 3, seed=2), rnd(3, 3, seed=3)]
    seqs = [both(a)[0] for a in arrays]
    tseqs = [both(a)[1] for a in arrays]
    packed = R.pack_sequence(seqs, enforce_sorted=False)
    tpacked = TR.pack_sequence(tseqs, enforce_sorted=False)
    same_packed(packed, tpacked)
    for ours, theirs in zip(R.unpack_sequence(packed), TR.unpack_sequence(tpacked)):
        same(ours, theirs)
    padded = R.pad_sequence(seqs, batch_first=True)
    tpadded = TR.pad_sequence(tseqs, batch_first=True)
    for ours, theirs in zip(R.unpad_sequence(padded, rg.tensor([2, 4, 3]), batch_first=True),
                            TR.unpad_sequence(tpadded, torch.tensor([2, 4, 3]), batch_first=True)):
        same(ours, theirs)
    assert R.invert_permutation(rg.tensor([2, 0, 3, 1])).tolist() == \
        TR.invert_permutation(torch.tensor([2, 0, 3, 1])).tolist()
    assert R.invert_permutation(None) is None


def test_packing_is_differentiable_by_gradcheck():
    x = rg.tensor(rnd(4, 3, 2), dtype=rg.float64, requires_grad=True)

    def round_trip(x):
        packed = R.pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False)
        padded, _ = R.pad_packed_sequence(packed, padding_value=0.5, total_length=5)
        return packed.data * 2, padded

    assert gradcheck(round_trip, (x,))
    seqs = [rg.tensor(rnd(n, 2, seed=n), dtype=rg.float64, requires_grad=True) for n in (3, 1, 2)]
    assert gradcheck(lambda *s: R.pad_sequence(s, padding_value=1.0, padding_side="left"), seqs)
    assert gradcheck(lambda *s: R.pack_sequence(s, enforce_sorted=False).data, seqs)
    assert gradcheck(lambda *s: tuple(R.unpack_sequence(R.pack_sequence(s, enforce_sorted=False))), seqs)


def test_gradient_reaches_only_the_valid_steps():
    x = rg.ones(3, 2, 1, requires_grad=True)
    R.pack_padded_sequence(x, [3, 1]).data.sum().backward()
    assert x.grad[:, :, 0].tolist() == [[1.0, 1.0], [1.0, 0.0], [1.0, 0.0]]


# ----- PackedSequence itself --------------------------------------------------------------------

def test_packed_sequence_is_a_namedtuple_like_torch():
    packed = R.pack_sequence([rg.ones(3, 2), rg.ones(1, 2)])
    assert isinstance(packed, tuple) and R.PackedSequence._fields == TR.PackedSequence._fields
    data, batch_sizes, sorted_indices, unsorted_indices = packed
    assert batch_sizes.tolist() == [2, 1, 1] and sorted_indices is None and unsorted_indices is None
    assert packed.is_cuda is False and packed.is_pinned() is False
    built = R.PackedSequence((data, batch_sizes))
    assert built.batch_sizes is batch_sizes and built.unsorted_indices is None
    unsorted = R.PackedSequence(data, batch_sizes, rg.tensor([1, 0]))
    assert unsorted.unsorted_indices.tolist() == [1, 0]
    with pytest.raises(AssertionError, match="Expected data to be a list or tuple of length 2"):
        R.PackedSequence(data)


def test_packed_sequence_casts_the_data_only():
    packed = R.pack_sequence([rg.ones(2, 2), rg.ones(3, 2)], enforce_sorted=False)
    doubled = packed.double()
    assert doubled.data.dtype == rg.float64 and doubled.float().data.dtype == rg.float32
    assert doubled.batch_sizes.dtype == rg.int64 and doubled.sorted_indices.dtype == rg.int64
    assert doubled.to(rg.float64) is doubled
    assert packed.to("cpu") is packed and packed.cpu() is packed
    assert packed.long().data.dtype == rg.int64 and packed.int().data.dtype == rg.int32


@pytest.mark.cuda
@pytest.mark.skipif(not rg.cuda.is_available(), reason="no usable CUDA device")
def test_packed_sequence_on_cuda():
    x = rg.tensor(rnd(4, 3, 2), dtype=rg.float64)
    packed = R.pack_padded_sequence(x.cuda(), [2, 4, 1], enforce_sorted=False)
    assert packed.is_cuda and packed.sorted_indices.is_cuda and packed.batch_sizes.device.type == "cpu"
    back = packed.cpu()
    assert not back.is_cuda and back.sorted_indices.device.type == "cpu"
    np.testing.assert_allclose(back.data.numpy(), R.pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False)
                               .data.numpy())
    lstm = nn.LSTM(2, 3, bidirectional=True).double()
    out, (h, c) = lstm.cuda()(packed)
    cpu_out, (cpu_h, cpu_c) = lstm.cpu()(back)
    np.testing.assert_allclose(out.data.cpu().numpy(), cpu_out.data.numpy(), atol=1e-10)
    np.testing.assert_allclose(h.cpu().numpy(), cpu_h.numpy(), atol=1e-10)
    with pytest.raises(RuntimeError, match="'lengths' argument should be a 1D CPU int64 tensor, but got 1D cuda"):
        R.pack_padded_sequence(x.cuda(), rg.tensor([4, 2, 1]).cuda())
    with pytest.raises(ValueError, match="batch_sizes should always be on CPU"):
        R.PackedSequence(packed.data, packed.batch_sizes.cuda())


# ----- PyTorch's errors ----------------------------------------------------------------------------

ERRORS = [
    ("unsorted", lambda L, x: L.pack_padded_sequence(x, [2, 3, 1])),
    ("zero_length", lambda L, x: L.pack_padded_sequence(x, [3, 2, 0])),
    ("negative_unsorted", lambda L, x: L.pack_padded_sequence(x, [3, 2, -1], enforce_sorted=False)),
    ("wrong_count", lambda L, x: L.pack_padded_sequence(x, [3, 2])),
    ("lengths_2d", lambda L, x: L.pack_padded_sequence(x, [[3, 2, 1]])),
    ("lengths_0d", lambda L, x: L.pack_padded_sequence(x, 3)),
    ("total_length", lambda L, x: L.pad_packed_sequence(L.pack_padded_sequence(x, [3, 2, 1]), total_length=2)),
    ("padding_side", lambda L, x: L.pad_sequence([x[0], x[1]], padding_side="middle")),
    ("empty", lambda L, x: L.pad_sequence([])),
]


@pytest.mark.parametrize("name,call", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_torch(name, call):
    x, tx = both(rnd(4, 3, 2))
    with pytest.raises(Exception) as expected:
        call(TR, tx)
    with pytest.raises(type(expected.value)) as got:
        call(R, x)
    assert str(got.value) == str(expected.value)


# ----- packed sequences through the recurrent layers -----------------------------------------------

def make(lib, mode, *args, **kw):
    if mode.startswith("RNN_"):
        return lib.nn.RNN(*args, nonlinearity=mode[4:].lower(), **kw)
    return getattr(lib.nn, mode)(*args, **kw)


def copy_weights(rg_module, torch_module):
    rg_module.load_state_dict({k: rg.tensor(v.detach().numpy()) for k, v in torch_module.state_dict().items()})


CONFIGS = [
    dict(num_layers=1, bidirectional=False),
    dict(num_layers=2, bidirectional=False),
    dict(num_layers=1, bidirectional=True),
    dict(num_layers=2, bidirectional=True, bias=False),
]


def run_packed(lib, module, x, lengths, hx):
    packed = lib.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, hidden = module(packed, hx)
    padded, _ = lib.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, padding_value=0.25)
    return out, padded, hidden


@pytest.mark.parametrize("mode", ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("with_hx", [False, True])
def test_packed_input_matches_torch(mode, config, with_hx):
    torch.manual_seed(0)
    tm = make(torch, mode, 3, 4, **config).double()
    m = make(rg, mode, 3, 4, **config).double()
    copy_weights(m, tm)
    lengths = [3, 5, 1, 4]
    x, tx = both(rnd(4, 5, 3), requires_grad=True)
    num_states = config["num_layers"] * (2 if config["bidirectional"] else 1)
    hx = thx = None
    leaves = [x]
    tleaves = [tx]
    if with_hx:
        states = [both(rnd(num_states, 4, 4, seed=s), requires_grad=True) for s in (5, 6)]
        if mode == "LSTM":
            hx, thx = (states[0][0], states[1][0]), (states[0][1], states[1][1])
            leaves += list(hx)
            tleaves += list(thx)
        else:
            hx, thx = states[0]
            leaves.append(hx)
            tleaves.append(thx)
    out, padded, hidden = run_packed(rg, m, x, lengths, hx)
    tout, tpadded, thidden = run_packed(torch, tm, tx, lengths, thx)
    same_packed(out, tout)
    same(padded, tpadded)
    hiddens = hidden if mode == "LSTM" else (hidden,)
    thiddens = thidden if mode == "LSTM" else (thidden,)
    for ours, theirs in zip(hiddens, thiddens):
        same(ours, theirs)
    # One scalar mixing every output with fixed weights, so each gradient entry matters.
    loss = (padded * rg.tensor(rnd(*padded.shape, seed=7))).sum()
    tloss = (tpadded * torch.tensor(rnd(*tpadded.shape, seed=7))).sum()
    for i, (ours, theirs) in enumerate(zip(hiddens, thiddens)):
        loss = loss + (ours * rg.tensor(rnd(*ours.shape, seed=8 + i))).sum()
        tloss = tloss + (theirs * torch.tensor(rnd(*theirs.shape, seed=8 + i))).sum()
    loss.backward()
    tloss.backward()
    for ours, theirs in zip(leaves, tleaves):
        same(ours.grad, theirs.grad)
    for (name, p), (tname, tp) in zip(m.named_parameters(), tm.named_parameters()):
        assert name == tname
        same(p.grad, tp.grad)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_lstm_with_projection_matches_torch(bidirectional):
    torch.manual_seed(1)
    tm = torch.nn.LSTM(3, 5, num_layers=2, proj_size=2, bidirectional=bidirectional).double()
    m = nn.LSTM(3, 5, num_layers=2, proj_size=2, bidirectional=bidirectional).double()
    copy_weights(m, tm)
    x, tx = both(rnd(4, 6, 3), requires_grad=True)
    out, padded, (h, c) = run_packed(rg, m, x, [6, 2, 4, 1], None)
    tout, tpadded, (th, tc) = run_packed(torch, tm, tx, [6, 2, 4, 1], None)
    same_packed(out, tout)
    same(h, th)
    same(c, tc)
    (padded.sum() + h.sum() * 2 + c.sum() * 3).backward()
    (tpadded.sum() + th.sum() * 2 + tc.sum() * 3).backward()
    same(x.grad, tx.grad)
    for p, tp in zip(m.parameters(), tm.parameters()):
        same(p.grad, tp.grad)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_dropout_between_packed_layers_matches_torch(mode):
    # dropout=1 zeroes every layer's input after the first: deterministic, so comparable with PyTorch.
    torch.manual_seed(2)
    tm = make(torch, mode, 3, 4, num_layers=3, dropout=1.0).double()
    m = make(rg, mode, 3, 4, num_layers=3, dropout=1.0).double()
    copy_weights(m, tm)
    x, tx = both(rnd(3, 4, 3))
    out, _, hidden = run_packed(rg, m, x, [2, 4, 3], None)
    tout, _, thidden = run_packed(torch, tm, tx, [2, 4, 3], None)
    same_packed(out, tout)
    same(hidden[0] if mode == "LSTM" else hidden, thidden[0] if mode == "LSTM" else thidden)
    m.train()
    x = rg.tensor(rnd(3, 4, 3))
    packed = R.pack_padded_sequence(x, [2, 4, 3], batch_first=True, enforce_sorted=False)
    m.dropout = 0.5
    train_out, _ = m(packed)
    assert train_out.data.shape == out.data.shape


@pytest.mark.parametrize("mode", ["RNN_TANH", "LSTM", "GRU"])
def test_packed_layers_pass_gradcheck(mode):
    m = make(rg, mode, 2, 3, num_layers=2, bidirectional=True).double()
    x = rg.tensor(rnd(3, 4, 2), dtype=rg.float64, requires_grad=True)
    params = list(m.parameters())

    def fn(x, *weights):
        packed = R.pack_padded_sequence(x, [2, 3, 1, 3], enforce_sorted=False)
        out, hidden = m(packed)
        hidden = hidden if mode == "LSTM" else (hidden,)
        return (out.data,) + tuple(hidden)

    assert gradcheck(fn, (x, *params))


def test_packed_sequence_state_matches_a_per_sequence_run():
    # Each sequence's output and final state are those of running it alone for its own length.
    m = nn.GRU(2, 3, bidirectional=True).double()
    seqs = [rg.tensor(rnd(n, 2, seed=n), dtype=rg.float64) for n in (2, 5, 3)]
    out, h_n = m(R.pack_sequence(seqs, enforce_sorted=False))
    for b, (seq, alone) in enumerate(zip(seqs, R.unpack_sequence(out))):
        single_out, single_h = m(seq.unsqueeze(1))
        np.testing.assert_allclose(alone.detach().numpy(), single_out[:, 0].detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(h_n[:, b].detach().numpy(), single_h[:, 0].detach().numpy(), atol=1e-12)


def test_packed_input_errors_match_torch():
    torch.manual_seed(0)
    x, tx = both(rnd(5, 2, 3))
    packed = R.pack_padded_sequence(x, [5, 2])
    tpacked = TR.pack_padded_sequence(tx, [5, 2])
    cases = [
        lambda lib, p: lib.nn.LSTM(3, 4).double()(p.float()),
        lambda lib, p: lib.nn.GRU(3, 4).double()(p, lib.zeros(2, 2, 4, dtype=lib.float64)),
        lambda lib, p: lib.nn.RNN(3, 4).double()(p, lib.zeros(1, 3, 4, dtype=lib.float64)),
    ]
    for call in cases:
        with pytest.raises(Exception) as expected:
            call(torch, tpacked)
        with pytest.raises(type(expected.value)) as got:
            call(rg, packed)
        assert str(got.value) == str(expected.value)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_sorted_packed_input_with_hx_matches_torch(mode):
    torch.manual_seed(3)
    tm = make(torch, mode, 3, 4, num_layers=2, bidirectional=True).double()
    m = make(rg, mode, 3, 4, num_layers=2, bidirectional=True).double()
    copy_weights(m, tm)
    x, tx = both(rnd(5, 4, 3, seed=1), requires_grad=True)
    h, th = both(rnd(4, 4, 4, seed=2), requires_grad=True)
    c, tc = both(rnd(4, 4, 4, seed=3), requires_grad=True)
    packed = R.pack_padded_sequence(x, rg.tensor([5, 4, 2, 1]))
    tpacked = TR.pack_padded_sequence(tx, torch.tensor([5, 4, 2, 1]))
    assert packed.sorted_indices is None
    out, hidden = m(packed, (h, c) if mode == "LSTM" else h)
    tout, thidden = tm(tpacked, (th, tc) if mode == "LSTM" else th)
    same_packed(out, tout)
    hidden = hidden if mode == "LSTM" else (hidden,)
    thidden = thidden if mode == "LSTM" else (thidden,)
    loss = (out.data ** 2).sum() + sum((s * (i + 2)).sum() for i, s in enumerate(hidden))
    tloss = (tout.data ** 2).sum() + sum((s * (i + 2)).sum() for i, s in enumerate(thidden))
    loss.backward()
    tloss.backward()
    same(x.grad, tx.grad)
    same(h.grad, th.grad)
    if mode == "LSTM":
        same(c.grad, tc.grad)
