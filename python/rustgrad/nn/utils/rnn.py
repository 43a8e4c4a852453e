"""``rustgrad.nn.utils.rnn``: variable-length batches for the recurrent layers, as ``torch.nn.utils.rnn``.

A ``PackedSequence`` stores a batch of sequences sorted by decreasing length, time step by time step:
``data`` holds, for each step ``t``, the rows of the ``batch_sizes[t]`` sequences still running at ``t``.
Every function here is a composition of differentiable tensor ops (``narrow``, ``cat``, ``stack``,
``index_select``), so gradients flow from packed data back to the padded input and vice versa.
"""

from collections import namedtuple

from ... import _C

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "unpad_sequence", "pack_sequence", "unpack_sequence"]

_PackedSequenceBase = namedtuple("PackedSequence_", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


def _map_optional(value, fn):
    return None if value is None else fn(value)


class PackedSequence(_PackedSequenceBase):
    """The packed batch (``data``, ``batch_sizes``, ``sorted_indices``, ``unsorted_indices``); build it with
    ``pack_padded_sequence`` or ``pack_sequence``, never by hand."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is not None:
            if batch_sizes.device.type != "cpu":
                raise ValueError(
                    "batch_sizes should always be on CPU. Instances of PackedSequence should never be created "
                    "manually. They should be instantiated by functions like pack_sequence and "
                    "pack_padded_sequences in nn.utils.rnn. "
                    "https://pytorch.org/docs/stable/nn.html#torch.nn.utils.rnn.pack_sequence")
            return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)
        if not isinstance(data, (list, tuple)) or len(data) != 2:
            raise AssertionError("Expected data to be a list or tuple of length 2")
        return super().__new__(cls, data[0], data[1], sorted_indices, unsorted_indices)

    # --- moving and casting: the data follows the call, the indices follow the device ---

    def to(self, *args, **kwargs):
        data = self.data.to(*args, **kwargs)
        # PyTorch returns self when nothing changes (rustgrad's Tensor.to always makes a new tensor).
        if data is self.data or (data.dtype == self.data.dtype and data.device == self.data.device):
            return self
        # dtype/device keywords apply to the data only; the int64 indices just follow the device.
        kwargs = {k: v for k, v in kwargs.items() if k not in ("device", "dtype")}
        sorted_indices = _map_optional(self.sorted_indices, lambda t: t.to(data.device, **kwargs))
        unsorted_indices = _map_optional(self.unsorted_indices, lambda t: t.to(data.device, **kwargs))
        return type(self)(data, self.batch_sizes, sorted_indices, unsorted_indices)

    def cuda(self, *args, **kwargs):
        ex = _C.tensor([], dtype=self.data.dtype, device=self.data.device).to(*args, **kwargs)
        if ex.is_cuda:
            return self.to(*args, **kwargs)
        kwargs["device"] = "cuda"
        return self.to(*args, **kwargs)

    def cpu(self, *args, **kwargs):
        ex = _C.tensor([], dtype=self.data.dtype, device=self.data.device).to(*args, **kwargs)
        if ex.device.type == "cpu":
            return self.to(*args, **kwargs)
        kwargs["device"] = "cpu"
        return self.to(*args, **kwargs)

    def _cast(self, dtype_name, method):
        import rustgrad  # the package's dtype names (this module loads while the package does)
        dtype = getattr(rustgrad, dtype_name, None)
        if dtype is None:
            raise NotImplementedError(f"PackedSequence.{method}: rustgrad has no {dtype_name} dtype")
        return self.to(dtype=dtype)

    def double(self):
        return self._cast("float64", "double")

    def float(self):
        return self._cast("float32", "float")

    def half(self):
        return self._cast("float16", "half")

    def long(self):
        return self._cast("int64", "long")

    def int(self):
        return self._cast("int32", "int")

    def short(self):
        return self._cast("int16", "short")

    def char(self):
        return self._cast("int8", "char")

    def byte(self):
        return self._cast("uint8", "byte")

    def pin_memory(self):
        raise NotImplementedError("PackedSequence.pin_memory: pinned host memory is not supported by rustgrad")

    @property
    def is_cuda(self):
        return self.data.is_cuda

    def is_pinned(self):
        """Always False: rustgrad has no pinned host memory."""
        return False


def invert_permutation(permutation):
    """The permutation that undoes ``permutation`` (``None`` stays ``None``)."""
    if permutation is None:
        return None
    inverse = [0] * permutation.numel()
    for position, index in enumerate(permutation.tolist()):
        inverse[index] = position
    return _C.tensor(inverse, dtype=permutation.dtype, device=permutation.device)


# ----- helpers ------------------------------------------------------------------------------------

def _lengths_list(lengths):
    """``lengths`` (a sequence or a tensor) as a tensor, with ATen's checks of a 1-D CPU int64 tensor."""
    if isinstance(lengths, _C.Tensor):
        lengths = lengths.to(_C.int64)
        if lengths.device.type != "cpu" or lengths.dim() != 1:
            raise RuntimeError("'lengths' argument should be a 1D CPU int64 tensor, but got "
                               f"{lengths.dim()}D {lengths.device} Long tensor")
    else:
        lengths = _C.as_tensor(lengths, dtype=_C.int64, device="cpu")
        if lengths.dim() != 1:
            raise RuntimeError("'lengths' argument should be a 1D CPU int64 tensor, but got "
                               f"{lengths.dim()}D cpu Long tensor")
    return lengths


def _batch_sizes_of(lengths):
    """``batch_sizes[t]``: how many of the (decreasing) ``lengths`` exceed ``t``."""
    return [sum(1 for n in lengths if n > t) for t in range(lengths[0])] if lengths else []


# ----- packing and unpacking ------------------------------------------------------------------------

def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Packs a padded batch (``T x B x *``, or ``B x T x *`` with ``batch_first``) whose sequence ``b`` has
    ``lengths[b]`` valid steps. With ``enforce_sorted=False`` the batch is sorted here (and the order is
    restored by ``pad_packed_sequence``)."""
    lengths = _lengths_list(lengths).tolist()
    if enforce_sorted:
        sorted_indices = None
    else:
        # A stable descending sort, as PyTorch's CPU sort of the lengths.
        order = sorted(range(len(lengths)), key=lambda b: -lengths[b])
        lengths = [lengths[b] for b in order]
        sorted_indices = _C.tensor(order, dtype=_C.int64, device=input.device)
        input = input.index_select(0 if batch_first else 1, sorted_indices)
    if batch_first:
        input = input.transpose(0, 1)
    if len(lengths) != input.size(1):
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(lengths)} "
                           f"(batch_size={input.size(1)})")
    if any(n <= 0 for n in lengths):
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' "
                           "that is <= 0")
    if any(a < b for a, b in zip(lengths, lengths[1:])):
        raise RuntimeError(
            "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can pass "
            "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep this requirement "
            "if you do not need ONNX exportability.")
    if lengths[0] > input.size(0):
        raise RuntimeError(f"pack_padded_sequence: a length ({lengths[0]}) exceeds the padded sequence length "
                           f"({input.size(0)})")
    batch_sizes = _batch_sizes_of(lengths)
    steps = [input[t].narrow(0, 0, size) for t, size in enumerate(batch_sizes)]
    data = _C.cat(steps, 0)
    return PackedSequence(data, _C.tensor(batch_sizes, dtype=_C.int64), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Inverse of ``pack_padded_sequence``: returns ``(padded, lengths)`` with the batch in its original order
    and ``lengths`` a CPU int64 tensor; ``total_length`` pads the time dimension further."""
    batch_sizes = sequence.batch_sizes.tolist()
    max_length = len(batch_sizes)
    if total_length is not None:
        if total_length < max_length:
            raise ValueError("Expected total_length to be at least the length of the longest sequence in input, "
                             f"but got total_length={total_length} and max sequence length being {max_length}")
    else:
        total_length = max_length
    data = sequence.data
    batch = batch_sizes[0]
    row_shape = tuple(data.shape[1:])
    steps, offset = [], 0
    for size in batch_sizes:
        step = data.narrow(0, offset, size)
        if size < batch:
            step = _C.cat([step, data.new_full((batch - size,) + row_shape, padding_value)], 0)
        steps.append(step)
        offset += size
    steps += [data.new_full((batch,) + row_shape, padding_value)] * (total_length - max_length)
    padded = _C.stack(steps, 0)
    lengths = [sum(1 for size in batch_sizes if size > b) for b in range(batch)]
    lengths = _C.tensor(lengths, dtype=_C.int64)
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(1, sequence.unsorted_indices)
        lengths = lengths.index_select(0, sequence.unsorted_indices.to(lengths.device))
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, lengths


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stacks tensors of shapes ``L_i x *`` into ``T x B x *`` (``B x T x *`` with ``batch_first``), padding
    each after (``padding_side="right"``) or before (``"left"``) its data with ``padding_value``."""
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if isinstance(sequences, _C.Tensor):
        sequences = sequences.unbind(0)
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    max_length = max(s.size(0) for s in sequences)
    padded = []
    for seq in sequences:
        missing = max_length - seq.size(0)
        if missing:
            pad = seq.new_full((missing,) + tuple(seq.shape[1:]), padding_value)
            seq = _C.cat([seq, pad] if padding_side == "right" else [pad, seq], 0)
        padded.append(seq)
    return _C.stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """Inverse of ``pad_sequence`` (right padding): the list of each sequence's first ``lengths[b]`` steps."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    lengths = lengths.tolist() if isinstance(lengths, _C.Tensor) else list(lengths)
    return [seq.narrow(0, 0, int(n)) for seq, n in zip(padded_sequences.unbind(0), lengths)]


def pack_sequence(sequences, enforce_sorted=True):
    """Packs a list of tensors ``L_i x *`` (decreasing lengths unless ``enforce_sorted=False``)."""
    lengths = _C.as_tensor([v.size(0) for v in sequences], dtype=_C.int64, device="cpu")
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """Inverse of ``pack_sequence``: the list of sequences, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
