"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and their single-step cells, as ``torch.nn.modules.rnn``.

Everything is a composition of existing differentiable ops (``F.linear``, ``sigmoid``, ``tanh``, ``relu``,
``chunk``, ``stack``/``cat``, ``dropout``), so autograd and every device work without dedicated kernels.
The input-to-hidden products of a whole layer are one ``F.linear`` over the sequence; the time loop then
only multiplies by ``weight_hh``.

Gate layouts are PyTorch's: LSTM rows are (i, f, g, o), GRU rows are (r, z, n) with
``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`` and ``h' = n + z * (h - n)``.
A ``PackedSequence`` input runs step by step over its ``batch_sizes``: the rows still active shrink (or, in
the reverse direction, grow from each sequence's own end), so every sequence stops at its own length.
"""

import math
import numbers
import warnings

from ... import _C
from ..._dtype_names import scalar_name as _scalar_name
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


def _check_mm_dtype(mat1, weight):
    """PyTorch's message when ``mat1 @ weight.T`` mixes dtypes (the op itself would word it differently)."""
    if mat1.dtype != weight.dtype:
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got {_scalar_name(mat1.dtype)} and "
                           f"{_scalar_name(weight.dtype)}")


# ----- one time step (gi = W_ih x + b_ih, already computed) -------------------------------------

def _rnn_step(gi, h, w_hh, b_hh, relu):
    pre = gi + F.linear(h, w_hh, b_hh)
    return pre.relu() if relu else pre.tanh()


def _lstm_step(gi, h, c, w_hh, b_hh, w_hr=None):
    gates = gi + F.linear(h, w_hh, b_hh)
    i, f, g, o = gates.chunk(4, 1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    h = o.sigmoid() * c.tanh()
    if w_hr is not None:
        h = F.linear(h, w_hr)
    return h, c


def _gru_step(gi, h, w_hh, b_hh):
    gh = F.linear(h, w_hh, b_hh)
    i_r, i_z, i_n = gi.chunk(3, 1)
    h_r, h_z, h_n = gh.chunk(3, 1)
    r = (i_r + h_r).sigmoid()
    z = (i_z + h_z).sigmoid()
    n = (i_n + r * h_n).tanh()
    return n + z * (h - n)


# ----- the layered modules ------------------------------------------------------------------------

class RNNBase(Module):
    """Base class of ``RNN``, ``LSTM`` and ``GRU``: parameters (named and ordered as PyTorch's), checks,
    and the layer/direction/time loops."""

    __constants__ = ["mode", "input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                     "bidirectional", "proj_size"]

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        num_directions = 2 if bidirectional else 1

        if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", stacklevel=2)
        if not isinstance(bias, bool):
            raise TypeError(f"bias should be of type bool, got: {type(bias).__name__}")
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first should be of type bool, got: {type(batch_first).__name__}")
        if not isinstance(input_size, int):
            raise TypeError(f"input_size should be of type int, got: {type(input_size).__name__}")
        if input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        if not isinstance(hidden_size, int):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")

        if mode == "LSTM":
            gate_size = 4 * hidden_size
        elif mode == "GRU":
            gate_size = 3 * hidden_size
        elif mode in ("RNN_TANH", "RNN_RELU"):
            gate_size = hidden_size
        else:
            raise ValueError("Unrecognized RNN mode: " + mode)

        self._flat_weights_names = []
        self._all_weights = []
        real_hidden_size = proj_size if proj_size > 0 else hidden_size
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input_size = input_size if layer == 0 else real_hidden_size * num_directions
                suffix = "_reverse" if direction == 1 else ""
                shapes = [("weight_ih", (gate_size, layer_input_size)), ("weight_hh", (gate_size, real_hidden_size))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size > 0:
                    shapes += [("weight_hr", (proj_size, hidden_size))]
                names = []
                for base, shape in shapes:
                    name = f"{base}_l{layer}{suffix}"
                    setattr(self, name, Parameter(_C.empty(shape, device=device, dtype=dtype)))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    @property
    def _flat_weights(self):
        return [getattr(self, name, None) for name in self._flat_weights_names]

    @property
    def all_weights(self):
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self):
        """A no-op (PyTorch uses it to pack cuDNN's weight buffer; there is none here)."""

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    # --- checks, worded as PyTorch's ---

    def check_input(self, input, batch_sizes):
        if input.dtype != self._flat_weights[0].dtype:
            w = self._flat_weights[0].dtype
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({w}). "
                             f"Convert input: input.to({w}), or convert model: model.to({input.dtype})")
        expected_input_dim = 2 if batch_sizes is not None else 3
        if input.dim() != expected_input_dim:
            raise RuntimeError(f"input must have {expected_input_dim} dimensions, got {input.dim()}")
        if self.input_size != input.size(-1):
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.size(-1)}")

    def get_expected_hidden_size(self, input, batch_sizes):
        mini_batch = _mini_batch(self, input, batch_sizes)
        num_directions = 2 if self.bidirectional else 1
        real_hidden_size = self.proj_size if self.proj_size > 0 else self.hidden_size
        return (self.num_layers * num_directions, mini_batch, real_hidden_size)

    def check_hidden_size(self, hx, expected_hidden_size, msg="Expected hidden size {}, got {}"):
        if tuple(hx.size()) != tuple(expected_hidden_size):
            raise RuntimeError(msg.format(expected_hidden_size, list(hx.size())))

    def check_forward_args(self, input, hidden, batch_sizes):
        self.check_input(input, batch_sizes)
        self.check_hidden_size(hidden, self.get_expected_hidden_size(input, batch_sizes))

    def permute_hidden(self, hx, permutation):
        if permutation is None:
            return hx
        return hx.index_select(1, permutation)

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    # --- the computation ---

    def _prepare(self, input):
        """Shared start of ``forward`` for a tensor input: checks the rank, unsqueezes unbatched input."""
        name = "RNN" if self.mode.startswith("RNN") else self.mode
        if input.dim() not in (2, 3):
            tensor = " tensor" if name == "RNN" else ""
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D{tensor} instead")
        is_batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        if not is_batched:
            input = input.unsqueeze(batch_dim)
        return input, is_batched, batch_dim

    def _zeros(self, input, size):
        num_directions = 2 if self.bidirectional else 1
        max_batch_size = input.size(0) if self.batch_first else input.size(1)
        return _C.zeros(self.num_layers * num_directions, max_batch_size, size, dtype=input.dtype,
                        device=input.device)

    def _step(self, gi, h, c, weights):
        """One time step of this layer type; ``gi`` is the input's gate pre-activation. Returns (h, c or None)."""
        w_hh = weights[1]
        b_hh = weights[3] if self.bias else None
        if self.mode == "LSTM":
            return _lstm_step(gi, h, c, w_hh, b_hh, weights[-1] if self.proj_size > 0 else None)
        if self.mode == "GRU":
            return _gru_step(gi, h, w_hh, b_hh), None
        return _rnn_step(gi, h, w_hh, b_hh, self.mode == "RNN_RELU"), None

    def _forward_packed(self, input, hx):
        """``forward`` of a ``PackedSequence``: returns (PackedSequence output, hidden), the hidden state(s)
        in the caller's batch order."""
        data, batch_sizes, sorted_indices, unsorted_indices = input
        _check_mm_dtype(data, self._flat_weights[0])  # as PyTorch words a packed input of the wrong dtype
        lstm = self.mode == "LSTM"
        if hx is None:
            max_batch = int(batch_sizes[0])
            num_directions = 2 if self.bidirectional else 1
            real_hidden_size = self.proj_size if self.proj_size > 0 else self.hidden_size

            def zeros(size):
                return _C.zeros(self.num_layers * num_directions, max_batch, size, dtype=data.dtype,
                                device=data.device)
            hx = (zeros(real_hidden_size), zeros(self.hidden_size)) if lstm else zeros(self.hidden_size)
        else:
            hx = self.permute_hidden(hx, sorted_indices)
        self.check_forward_args(data, hx, batch_sizes)
        h0, c0 = hx if lstm else (hx, None)
        output, h_n, c_n = _run_packed(self, data, batch_sizes.tolist(), h0, c0)
        hidden = self.permute_hidden((h_n, c_n) if lstm else h_n, unsorted_indices)
        return PackedSequence(output, batch_sizes, sorted_indices, unsorted_indices), hidden

    def _run(self, input, h0, c0=None):
        """Runs every layer and direction over ``input``; returns (output, h_n, c_n or None)."""
        if self.batch_first:
            input = input.transpose(0, 1)
        seq_len = input.size(0)
        if seq_len == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        _check_mm_dtype(h0, self._flat_weights[1])
        num_directions = 2 if self.bidirectional else 1
        lstm = self.mode == "LSTM"
        h_n, c_n = [], []
        layer_input = input
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(num_directions):
                idx = layer * num_directions + direction
                weights = self.all_weights[idx]
                gi = F.linear(layer_input, weights[0], weights[2] if self.bias else None).unbind(0)
                h = h0[idx]
                c = c0[idx] if lstm else None
                steps = range(seq_len) if direction == 0 else range(seq_len - 1, -1, -1)
                out = [None] * seq_len
                for t in steps:
                    h, c = self._step(gi[t], h, c, weights)
                    out[t] = h
                outputs.append(_C.stack(out, 0))
                h_n.append(h)
                c_n.append(c)
            layer_input = outputs[0] if num_directions == 1 else _C.cat(outputs, 2)
            if self.dropout != 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        output = layer_input.transpose(0, 1) if self.batch_first else layer_input
        return output, _C.stack(h_n, 0), (_C.stack(c_n, 0) if lstm else None)


def _mini_batch(rnn, input, batch_sizes):
    if batch_sizes is not None:
        return int(batch_sizes[0])
    return input.size(0) if rnn.batch_first else input.size(1)


# ----- packed sequences: each sequence runs for its own length ------------------------------------------

def _run_packed(rnn, data, batch_sizes, h0, c0):
    """Every layer and direction of ``rnn`` over packed ``data`` (rows of step t: the first
    ``batch_sizes[t]`` sequences). Returns (output data, h_n, c_n or None)."""
    _check_mm_dtype(h0, rnn._flat_weights[1])
    num_directions = 2 if rnn.bidirectional else 1
    h_n, c_n = [], []
    layer_input = data
    for layer in range(rnn.num_layers):
        outputs = []
        for direction in range(num_directions):
            idx = layer * num_directions + direction
            weights = rnn.all_weights[idx]
            gi = F.linear(layer_input, weights[0], weights[2] if rnn.bias else None)
            c_init = c0[idx] if c0 is not None else None
            run = _packed_forward_pass if direction == 0 else _packed_reverse_pass
            out, h, c = run(rnn, gi, batch_sizes, h0[idx], c_init, weights)
            outputs.append(out)
            h_n.append(h)
            c_n.append(c)
        layer_input = outputs[0] if num_directions == 1 else _C.cat(outputs, 1)
        if rnn.dropout != 0 and rnn.training and layer < rnn.num_layers - 1:
            layer_input = F.dropout(layer_input, rnn.dropout, True)
    return layer_input, _C.stack(h_n, 0), (_C.stack(c_n, 0) if c0 is not None else None)


def _narrow_rows(state, start, length):
    return None if state is None else state.narrow(0, start, length)


def _packed_forward_pass(rnn, gi, batch_sizes, h, c, weights):
    """Time runs forward; when the batch shrinks, the rows that stop keep their state as their final one."""
    outputs, final_h, final_c = [], [], []
    offset = 0
    for size in batch_sizes:
        active = h.size(0)
        if size < active:
            final_h.append(h.narrow(0, size, active - size))
            final_c.append(_narrow_rows(c, size, active - size))
            h, c = h.narrow(0, 0, size), _narrow_rows(c, 0, size)
        h, c = rnn._step(gi.narrow(0, offset, size), h, c, weights)
        outputs.append(h)
        offset += size
    final_h.append(h)
    final_c.append(c)
    # Rows that stopped first are the last rows of the batch: reversed, the pieces are in row order.
    h_n = _C.cat(final_h[::-1], 0)
    c_n = _C.cat(final_c[::-1], 0) if c is not None else None
    return _C.cat(outputs, 0), h_n, c_n


def _packed_reverse_pass(rnn, gi, batch_sizes, h0, c0, weights):
    """Time runs backward; a sequence joins (from its initial state) at its own last step."""
    offsets = [0]
    for size in batch_sizes[:-1]:
        offsets.append(offsets[-1] + size)
    outputs = [None] * len(batch_sizes)
    h = h0.narrow(0, 0, batch_sizes[-1])
    c = _narrow_rows(c0, 0, batch_sizes[-1])
    for t in range(len(batch_sizes) - 1, -1, -1):
        size, active = batch_sizes[t], h.size(0)
        if size > active:
            h = _C.cat([h, h0.narrow(0, active, size - active)], 0)
            c = _C.cat([c, c0.narrow(0, active, size - active)], 0) if c is not None else None
        h, c = rnn._step(gi.narrow(0, offsets[t], size), h, c, weights)
        outputs[t] = h
    return _C.cat(outputs, 0), h, c


class RNN(RNNBase):
    """An Elman RNN: ``h_t = tanh(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)`` (or ReLU), stacked and optionally
    bidirectional. ``forward(input, hx=None)`` returns ``(output, h_n)``."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if self.nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self.nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(mode, *args, **kwargs)

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        input, is_batched, batch_dim = self._prepare(input)
        if not is_batched:
            if hx is not None:
                if hx.dim() != 2:
                    raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but got {hx.dim()}-D tensor")
                hx = hx.unsqueeze(1)
        elif hx is not None and hx.dim() != 3:
            raise RuntimeError(f"For batched 3-D input, hx should also be 3-D but got {hx.dim()}-D tensor")
        if hx is None:
            hx = self._zeros(input, self.hidden_size)
        self.check_forward_args(input, hx, None)
        output, hidden, _ = self._run(input, hx)
        if not is_batched:
            output = output.squeeze(batch_dim)
            hidden = hidden.squeeze(1)
        return output, hidden


class LSTM(RNNBase):
    """A long short-term memory RNN (gates i, f, g, o; optional projection ``proj_size``), stacked and
    optionally bidirectional. ``forward(input, hx=None)`` returns ``(output, (h_n, c_n))``."""

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)

    def get_expected_cell_size(self, input, batch_sizes):
        mini_batch = _mini_batch(self, input, batch_sizes)
        num_directions = 2 if self.bidirectional else 1
        return (self.num_layers * num_directions, mini_batch, self.hidden_size)

    def check_forward_args(self, input, hidden, batch_sizes):
        self.check_input(input, batch_sizes)
        self.check_hidden_size(hidden[0], self.get_expected_hidden_size(input, batch_sizes),
                               "Expected hidden[0] size {}, got {}")
        self.check_hidden_size(hidden[1], self.get_expected_cell_size(input, batch_sizes),
                               "Expected hidden[1] size {}, got {}")

    def permute_hidden(self, hx, permutation):
        if permutation is None:
            return hx
        return hx[0].index_select(1, permutation), hx[1].index_select(1, permutation)

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        input, is_batched, batch_dim = self._prepare(input)
        if hx is None:
            real_hidden_size = self.proj_size if self.proj_size > 0 else self.hidden_size
            hx = (self._zeros(input, real_hidden_size), self._zeros(input, self.hidden_size))
        else:
            if is_batched:
                if hx[0].dim() != 3 or hx[1].dim() != 3:
                    raise RuntimeError("For batched 3-D input, hx and cx should also be 3-D but got "
                                       f"({hx[0].dim()}-D, {hx[1].dim()}-D) tensors")
            else:
                if hx[0].dim() != 2 or hx[1].dim() != 2:
                    raise RuntimeError("For unbatched 2-D input, hx and cx should also be 2-D but got "
                                       f"({hx[0].dim()}-D, {hx[1].dim()}-D) tensors")
                hx = (hx[0].unsqueeze(1), hx[1].unsqueeze(1))
        self.check_forward_args(input, hx, None)
        output, h_n, c_n = self._run(input, hx[0], hx[1])
        if not is_batched:
            output = output.squeeze(batch_dim)
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)
        return output, (h_n, c_n)


class GRU(RNNBase):
    """A gated recurrent unit RNN (gates r, z, n), stacked and optionally bidirectional.
    ``forward(input, hx=None)`` returns ``(output, h_n)``."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        input, is_batched, batch_dim = self._prepare(input)
        if not is_batched:
            if hx is not None:
                if hx.dim() != 2:
                    raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but got {hx.dim()}-D tensor")
                hx = hx.unsqueeze(1)
        elif hx is not None and hx.dim() != 3:
            raise RuntimeError(f"For batched 3-D input, hx should also be 3-D but got {hx.dim()}-D tensor")
        if hx is None:
            hx = self._zeros(input, self.hidden_size)
        self.check_forward_args(input, hx, None)
        output, hidden, _ = self._run(input, hx)
        if not is_batched:
            output = output.squeeze(batch_dim)
            hidden = hidden.squeeze(1)
        return output, hidden


# ----- the cells ----------------------------------------------------------------------------------

class RNNCellBase(Module):
    """Base class of the cells: ``weight_ih`` (chunks * hidden, input), ``weight_hh`` (chunks * hidden,
    hidden), ``bias_ih`` and ``bias_hh`` (chunks * hidden), all from U(-1/sqrt(hidden), 1/sqrt(hidden))."""

    __constants__ = ["input_size", "hidden_size", "bias"]

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(_C.empty((num_chunks * hidden_size, input_size), device=device, dtype=dtype))
        self.weight_hh = Parameter(_C.empty((num_chunks * hidden_size, hidden_size), device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(_C.empty(num_chunks * hidden_size, device=device, dtype=dtype))
            self.bias_hh = Parameter(_C.empty(num_chunks * hidden_size, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    # ATen's checks of a cell's (2-D) input and hidden states, in ATen's order and words.
    def _check_input(self, input):
        if input.size(1) != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.size(1)} expected {self.input_size}")

    def _check_hidden(self, input, hx, label):
        if hx.dim() != 2:
            raise RuntimeError(f"Expected 2D hidden{label} (batch x hidden_size), but got {hx.dim()}D tensor")
        if input.size(0) != hx.size(0):
            raise RuntimeError(f"Input batch size {input.size(0)} doesn't match hidden{label} batch size "
                               f"{hx.size(0)}")
        if hx.size(1) != self.hidden_size:
            raise RuntimeError(f"hidden{label} has inconsistent hidden_size: got {hx.size(1)}, expected "
                               f"{self.hidden_size}")

    def _gates_input(self, input, hx):
        _check_mm_dtype(input, self.weight_ih)
        _check_mm_dtype(hx, self.weight_hh)
        return F.linear(input, self.weight_ih, self.bias_ih)

    def _zeros(self, input):
        return _C.zeros(input.size(0), self.hidden_size, dtype=input.dtype, device=input.device)


class RNNCell(RNNCellBase):
    """One Elman step: ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or ReLU)."""

    __constants__ = ["input_size", "hidden_size", "bias", "nonlinearity"]

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        if input.dim() not in (1, 2):
            raise ValueError(f"RNNCell: Expected input to be 1D or 2D, got {input.dim()}D instead")
        if hx is not None and hx.dim() not in (1, 2):
            raise ValueError(f"RNNCell: Expected hidden to be 1D or 2D, got {hx.dim()}D instead")
        is_batched = input.dim() == 2
        if not is_batched:
            input = input.unsqueeze(0)
        if hx is None:
            hx = self._zeros(input)
        else:
            hx = hx.unsqueeze(0) if not is_batched else hx
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        self._check_input(input)
        self._check_hidden(input, hx, 0)
        gi = self._gates_input(input, hx)
        ret = _rnn_step(gi, hx, self.weight_hh, self.bias_hh, self.nonlinearity == "relu")
        if not is_batched:
            ret = ret.squeeze(0)
        return ret


class LSTMCell(RNNCellBase):
    """One LSTM step; ``forward(input, (h, c))`` returns ``(h', c')``."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if input.dim() not in (1, 2):
            raise ValueError(f"LSTMCell: Expected input to be 1D or 2D, got {input.dim()}D instead")
        if hx is not None:
            for idx, value in enumerate(hx):
                if value.dim() not in (1, 2):
                    raise ValueError(f"LSTMCell: Expected hx[{idx}] to be 1D or 2D, got {value.dim()}D instead")
        is_batched = input.dim() == 2
        if not is_batched:
            input = input.unsqueeze(0)
        if hx is None:
            zeros = self._zeros(input)
            hx = (zeros, zeros)
        else:
            hx = tuple(h.unsqueeze(0) for h in hx) if not is_batched else tuple(hx)
        if len(hx) != 2:
            raise RuntimeError("lstm_cell expects two hidden states")
        self._check_input(input)
        self._check_hidden(input, hx[0], 0)
        self._check_hidden(input, hx[1], 1)
        gi = self._gates_input(input, hx[0])
        ret = _lstm_step(gi, hx[0], hx[1], self.weight_hh, self.bias_hh)
        if not is_batched:
            ret = (ret[0].squeeze(0), ret[1].squeeze(0))
        return ret


class GRUCell(RNNCellBase):
    """One GRU step: gates r, z, n with ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if input.dim() not in (1, 2):
            raise ValueError(f"GRUCell: Expected input to be 1D or 2D, got {input.dim()}D instead")
        if hx is not None and hx.dim() not in (1, 2):
            raise ValueError(f"GRUCell: Expected hidden to be 1D or 2D, got {hx.dim()}D instead")
        is_batched = input.dim() == 2
        if not is_batched:
            input = input.unsqueeze(0)
        if hx is None:
            hx = self._zeros(input)
        else:
            hx = hx.unsqueeze(0) if not is_batched else hx
        self._check_input(input)
        self._check_hidden(input, hx, 0)
        gi = self._gates_input(input, hx)
        ret = _gru_step(gi, hx, self.weight_hh, self.bias_hh)
        if not is_batched:
            ret = ret.squeeze(0)
        return ret
