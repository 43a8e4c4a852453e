"""Activation checkpointing (as ``torch.utils.checkpoint``): trade compute for memory.

``checkpoint(function, *args, use_reentrant=False, **kwargs)`` runs ``function`` so that the
tensors its ops save for backward are not kept: every one of them goes through a
``saved_tensors_hooks`` pack hook that drops it and keeps only its position. When the backward
first needs one of them, the unpack hook runs ``function`` again on the same inputs (grad mode on,
the random generator put back to the state it had at the original forward, then the caller's state
restored), under hooks that collect what the recomputation saves, by position, and hands each
tensor to the node that asked for it, once: a tensor is freed from the checkpoint as soon as its
node took it, and a second backward of a retained graph recomputes again.

This is PyTorch's non-reentrant checkpoint. rustgrad has only this mechanism: ``use_reentrant=True``
is accepted (with the reentrant variant's argument checks) and runs it too, see ``checkpoint``.
"""

import contextlib
import functools
import traceback
import warnings
import weakref

import rustgrad

from ..autograd.graph import saved_tensors_hooks

__all__ = [
    "checkpoint",
    "checkpoint_sequential",
    "CheckpointError",
    "set_checkpoint_early_stop",
    "set_checkpoint_debug_enabled",
    "noop_context_fn",
    "detach_variable",
    "check_backward_validity",
]

_DEFAULT_DETERMINISM_MODE = "default"

# Global overrides of the ``debug`` and ``early_stop`` arguments (None: the argument decides).
_checkpoint_debug_enabled = None
_enable_checkpoint_early_stop = None


class CheckpointError(RuntimeError):
    """The recomputation did not save what the original forward saved."""


@contextlib.contextmanager
def set_checkpoint_debug_enabled(enabled):
    """Overrides ``checkpoint(debug=...)`` inside the block (None: each call's argument decides)."""
    global _checkpoint_debug_enabled
    prev = _checkpoint_debug_enabled
    _checkpoint_debug_enabled = enabled
    try:
        yield
    finally:
        _checkpoint_debug_enabled = prev


@contextlib.contextmanager
def set_checkpoint_early_stop(enable):
    """Whether a recomputation stops as soon as it produced every tensor the backward needs
    (default) or runs the whole function, for the checkpoints run inside the block."""
    global _enable_checkpoint_early_stop
    prev = _enable_checkpoint_early_stop
    _enable_checkpoint_early_stop = enable
    try:
        yield
    finally:
        _enable_checkpoint_early_stop = prev


def noop_context_fn():
    """The default ``context_fn``: no context around the forward nor the recomputation."""
    return contextlib.nullcontext(), contextlib.nullcontext()


def detach_variable(inputs):
    """Detached copies of the tensors in the tuple ``inputs`` with their ``requires_grad`` kept."""
    if not isinstance(inputs, tuple):
        raise RuntimeError(
            "Only tuple of tensors is supported. Got Unsupported input type: ", type(inputs).__name__)
    out = []
    for inp in inputs:
        if not isinstance(inp, rustgrad.Tensor):
            out.append(inp)
            continue
        x = inp.detach()
        x.requires_grad = inp.requires_grad
        out.append(x)
    return tuple(out)


def check_backward_validity(inputs):
    if not any(isinstance(inp, rustgrad.Tensor) and inp.requires_grad for inp in inputs):
        warnings.warn("None of the inputs have requires_grad=True. Gradients will be None", stacklevel=2)


# ----- the frame of one checkpointed call --------------------------------------------------------

_debug_tip_msg = """
Tip: To see a more detailed error message, either pass `debug=True` to
`torch.utils.checkpoint.checkpoint(...)` or wrap the code block
with `with torch.utils.checkpoint.set_checkpoint_debug_enabled(True):` to
enable checkpoint-debug mode globally.
"""


def _default_meta_extractor(x):
    return {"shape": tuple(x.shape), "dtype": x.dtype, "device": x.device}


_allowed_determinism_checks_to_fns = {
    _DEFAULT_DETERMINISM_MODE: _default_meta_extractor,
    "none": lambda _: None,
}


class _StopRecomputationError(Exception):
    """Raised by the recomputation's pack hook once it has every tensor (early stop)."""


class _Holder:
    """What a node of the checkpointed region keeps in place of a saved tensor: nothing until a
    recomputation fills ``value``, which the node's unpack then takes (and clears)."""

    __slots__ = ("value", "__weakref__")

    def __init__(self):
        self.value = None


class _Frame:
    def __init__(self, function, args, kwargs, *, preserve_rng_state, recompute_context, early_stop,
                 metadata_fn, debug):
        self.function = function
        self.args = args
        self.kwargs = kwargs
        # Inputs are kept as they are (they are the checkpoint's boundary); their versions tell an
        # in-place change before the recomputation, as a saved tensor's would.
        self.arg_versions = [(i, a._version) for i, a in enumerate(args) if isinstance(a, rustgrad.Tensor)]
        self.preserve_rng_state = preserve_rng_state
        self.fwd_rng_state = rustgrad.get_rng_state() if preserve_rng_state else None
        self.recompute_context = recompute_context
        self.early_stop = early_stop
        self.metadata_fn = metadata_fn
        # One weak reference per tensor saved in the original forward, in order: a holder dies with
        # its node (a backward without retain_graph frees it), and a recomputation skips it then.
        self.weak_holders = []
        self.metadatas = []
        self.forward_completed = False
        self.backward_in_forward = False
        self.debug = debug
        self.forward_log = [] if debug else None
        self.recompute_log = None

    # -- the original forward

    def pack(self, x):
        holder = _Holder()
        self.weak_holders.append(weakref.ref(holder))
        self.metadatas.append(self.metadata_fn(x))
        if self.debug:
            self.forward_log.append(_log_entry(x))
        return holder

    def unpack(self, holder):
        if not self.forward_completed:
            # A backward inside the checkpointed function (see ``recompute``).
            self.backward_in_forward = True
        if holder.value is None:
            # Not recomputed for this backward yet (or already taken by its node in an earlier
            # backward of a retained graph): run the function again.
            self.recompute()
        value = holder.value
        holder.value = None
        if value is None:
            raise CheckpointError(
                "torch.utils.checkpoint: the recomputation did not produce a tensor that the original "
                "forward saved.\n" + _debug_tip_msg)
        return value

    # -- the recomputation

    def check_inputs(self):
        for i, version in self.arg_versions:
            a = self.args[i]
            if a._version != version:
                legacy = a.type().replace("rustgrad.", "torch.")
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: [{legacy} [{', '.join(str(s) for s in a.shape)}]], which is input {i} of "
                    f"a checkpointed function, is at version {a._version}; expected version {version} "
                    "instead. Hint: enable anomaly detection to find the operation that failed to compute "
                    "its gradient, with torch.autograd.set_detect_anomaly(True).")

    def recompute(self):
        self.check_inputs()
        # PyTorch detaches the recomputed tensors and its engine re-attaches each unpacked one to
        # the graph position the original had. rustgrad's engine re-attaches only a node's own
        # outputs: a saved input comes back as the unpack hook returned it. So the recomputed
        # tensors keep their history (the recomputation's graph, which leads to the same inputs
        # and parameters) when a graph is built from them: in a backward with create_graph=True
        # (grad mode is on while the engine unpacks), and when the function itself runs a
        # backward (whose create_graph ops must see the same graph in the recomputation as in the
        # forward, or they would save fewer tensors). Otherwise they are detached, so that each is
        # freed as soon as its node used it.
        keep_graph = rustgrad.is_grad_enabled() or self.backward_in_forward
        counter = [0]
        if self.debug:
            self.recompute_log = []
        frame = self

        def pack(x):
            idx = counter[0]
            counter[0] += 1
            # A tensor the op saves as its own output does not require grad yet when it is packed
            # and is given its grad_fn right after: kept as it is, the node would hold itself (a
            # cycle through the engine that the garbage collector cannot see). Its detached alias
            # is enough: the engine re-attaches a saved output to its node when it unpacks it.
            if not (keep_graph and x.requires_grad):
                x = x.detach()
            if frame.debug:
                frame.recompute_log.append(_log_entry(x))
            if idx >= len(frame.weak_holders):
                if not frame.forward_completed:
                    # A backward inside the checkpointed function itself, without early stop.
                    return x
                raise CheckpointError(
                    "torch.utils.checkpoint: trying to save more tensors during recomputation than "
                    "during the original forward pass.\n" + _debug_tip_msg)
            holder = frame.weak_holders[idx]()
            if holder is not None:
                holder.value = x
            if frame.early_stop and counter[0] == len(frame.weak_holders):
                raise _StopRecomputationError
            return x

        def unpack(x):
            # Only a backward through the recomputation's own graph gets here.
            return x

        caller_rng_state = rustgrad.get_rng_state() if self.preserve_rng_state else None
        try:
            if self.preserve_rng_state:
                rustgrad.set_rng_state(self.fwd_rng_state)
            with saved_tensors_hooks(pack, unpack), rustgrad.enable_grad(), self.recompute_context:
                self.function(*self.args, **self.kwargs)
        except _StopRecomputationError:
            pass
        finally:
            if self.preserve_rng_state:
                rustgrad.set_rng_state(caller_rng_state)
        self.check_recomputed(counter[0])

    def check_recomputed(self, count):
        if count != len(self.weak_holders):
            raise CheckpointError(
                "torch.utils.checkpoint: A different number of tensors was saved "
                "during the original forward and recomputation.\n"
                f"Number of tensors saved during forward: {len(self.weak_holders)}\n"
                f"Number of tensors saved during recomputation: {count}.\n"
                f"{_debug_tip_msg}")
        different = []
        for idx, weak_holder in enumerate(self.weak_holders):
            holder = weak_holder()
            if holder is None or holder.value is None:
                continue
            meta = self.metadata_fn(holder.value)
            if meta != self.metadatas[idx]:
                different.append((idx, self.metadatas[idx], meta))
        if different:
            text = "".join(f"tensor at position {idx}:\nsaved metadata: {a}\nrecomputed metadata: {b}\n"
                           for idx, a, b in different)
            raise CheckpointError(
                "torch.utils.checkpoint: Recomputed values for the following tensors "
                "have different metadata than during the forward pass.\n"
                f"{text}.\n{_debug_tip_msg}")

    def debug_error(self, err):
        def fmt(log):
            if log is None:
                return "(none)\n"
            return "".join(f"saved tensor {i} ({entry[0]}) at:\n{entry[1]}\n" for i, entry in enumerate(log))

        raise CheckpointError(
            "An error happened while unpacking tensors; dumping the tensors saved by the latest "
            "computations because you passed `debug=True` to `checkpoint()` (rustgrad logs each "
            "saved tensor with the Python stack that saved it, not an operator trace).\n\n"
            "Tensors saved during the original forward:\n\n" + fmt(self.forward_log) +
            "\nTensors saved during recomputation:\n\n" + fmt(self.recompute_log) +
            "\nERROR: Detected non-determinism while running activation checkpointing\n\n" + str(err)
        ) from err


def _log_entry(x):
    meta = f"shape={list(x.shape)}, dtype={x.dtype}, device={x.device}"
    return meta, "".join(traceback.format_stack()[:-2])


# ----- public API ---------------------------------------------------------------------------------

class _CheckpointedFunction:
    """``checkpoint(**options)(fn)``: ``fn`` run through ``checkpoint`` with those options."""

    def __init__(self, function, **checkpoint_kwargs):
        self.function = function
        self.checkpoint_kwargs = dict(checkpoint_kwargs)
        functools.update_wrapper(self, function, updated=())

    def __call__(self, *args, **kwargs):
        return _checkpoint_impl(self.function, args, kwargs, **self.checkpoint_kwargs)

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        descriptor_get = getattr(self.function, "__get__", None)
        if descriptor_get is None:
            return self
        return type(self)(descriptor_get(instance, owner), **self.checkpoint_kwargs)


def checkpoint(function=None, *args, use_reentrant=None, preserve_rng_state=True, context_fn=noop_context_fn,
               determinism_check=_DEFAULT_DETERMINISM_MODE, debug=False, early_stop=True, **kwargs):
    """Runs ``function(*args, **kwargs)`` without keeping the tensors its ops save for backward;
    the backward recomputes them by running ``function`` again. Returns what ``function`` returned
    (any structure, tensors or not). The inputs in ``args`` are kept alive.

    Keyword args (as PyTorch's):
        use_reentrant: pass it explicitly. ``False`` is PyTorch's recommended non-reentrant
            variant, which this implements: it works with ``autograd.grad`` and
            ``backward(inputs=...)``, with keyword arguments, with inputs that don't require grad
            (the parameters used inside still get gradients), with outputs in nested structures,
            with nested checkpoints, and with ``create_graph=True``. Not passing it warns, as
            PyTorch 2.15 does, but then runs the non-reentrant variant (PyTorch 2.15 runs the
            reentrant one). ``True`` applies PyTorch's checks for the reentrant variant (keyword
            arguments for ``function``, ``context_fn`` and ``debug`` are ValueErrors) but then runs
            the same non-reentrant mechanism: rustgrad has no reentrant backward. Unlike PyTorch's
            reentrant variant it therefore also works with ``autograd.grad``, runs the forward with
            grad recording, and gives the parameters used inside gradients when no input requires
            grad.
        preserve_rng_state: restore the random generator to its state at the forward during the
            recomputation (so dropout draws the same mask), then put the caller's state back.
        context_fn: returns two context managers; the forward runs under the first and the
            recomputation under the second.
        determinism_check: ``"default"`` compares shape, dtype and device of each recomputed
            tensor with the saved one; ``"none"`` only checks their number.
        debug: a mismatch error also lists every tensor saved by the forward and the
            recomputation with the Python stack that saved it.
        early_stop: stop the recomputation as soon as it produced every saved tensor (default).

    Called with no function and no args, returns a decorator: ``checkpoint(use_reentrant=False)(fn)``.
    """
    if function is None and not args:
        if kwargs:
            raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
        return functools.partial(_CheckpointedFunction, use_reentrant=use_reentrant,
                                 preserve_rng_state=preserve_rng_state, context_fn=context_fn,
                                 determinism_check=determinism_check, debug=debug, early_stop=early_stop)
    return _checkpoint_impl(function, args, kwargs, use_reentrant=use_reentrant,
                            preserve_rng_state=preserve_rng_state, context_fn=context_fn,
                            determinism_check=determinism_check, debug=debug, early_stop=early_stop)


_USE_REENTRANT_WARNING = (
    "torch.utils.checkpoint: the use_reentrant parameter should be "
    "passed explicitly. In a future release, calling checkpoint "
    "without use_reentrant will raise an exception. use_reentrant=False is "
    "recommended (rustgrad runs use_reentrant=False when it is not passed; PyTorch 2.15 runs "
    "use_reentrant=True). Refer to docs for more details on the differences between the two variants.")


def _checkpoint_impl(function, args, kwargs, *, use_reentrant=None, preserve_rng_state=True,
                     context_fn=noop_context_fn, determinism_check=_DEFAULT_DETERMINISM_MODE, debug=False,
                     early_stop=True):
    if use_reentrant is None:
        # stacklevel 3: the caller of checkpoint (or of a function it decorated).
        warnings.warn(_USE_REENTRANT_WARNING, stacklevel=3)
        use_reentrant = False
    if kwargs and use_reentrant:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
    if use_reentrant:
        if context_fn is not noop_context_fn or debug is not False:
            raise ValueError("Passing `context_fn` or `debug` is only supported when use_reentrant=False.")
        # The reentrant variant never checks determinism (PyTorch's neither).
        determinism_check = "none"

    debug = _checkpoint_debug_enabled if _checkpoint_debug_enabled is not None else debug
    if debug and context_fn is not noop_context_fn:
        raise ValueError("debug=True is incompatible with non-default context_fn")
    if determinism_check not in _allowed_determinism_checks_to_fns:
        raise ValueError(
            f"determinism_check should be one of {list(_allowed_determinism_checks_to_fns.keys())}, "
            f"but got {determinism_check}")
    metadata_fn = _allowed_determinism_checks_to_fns[determinism_check]

    forward_context, recompute_context = context_fn()
    if not rustgrad.is_grad_enabled():
        # Nothing is saved for backward: a plain call.
        with forward_context:
            return function(*args, **kwargs)

    frame = _Frame(
        function, args, kwargs, preserve_rng_state=preserve_rng_state, recompute_context=recompute_context,
        early_stop=_enable_checkpoint_early_stop if _enable_checkpoint_early_stop is not None else early_stop,
        metadata_fn=metadata_fn, debug=debug)
    unpack = frame.unpack
    if debug:
        def unpack(holder):
            try:
                return frame.unpack(holder)
            except CheckpointError as e:
                frame.debug_error(e)

    with saved_tensors_hooks(frame.pack, unpack), forward_context:
        out = function(*args, **kwargs)
    frame.forward_completed = True
    return out


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Runs ``functions`` (an ``nn.Sequential`` or a list of modules or functions) one after the
    other on ``input``, split into ``segments`` chunks; every chunk but the last is checkpointed
    (only its input is kept). ``preserve_rng_state`` is the one keyword accepted. Not passing
    ``use_reentrant`` warns and runs the non-reentrant variant (see ``checkpoint``)."""
    if use_reentrant is None:
        warnings.warn(
            "torch.utils.checkpoint.checkpoint_sequential: the use_reentrant "
            "parameter should be passed explicitly. "
            "In a future release, we will raise an exception if use_reentrant "
            "is not passed. use_reentrant=False is recommended (rustgrad runs use_reentrant=False "
            "when it is not passed; PyTorch 2.15 runs use_reentrant=True). Refer to docs for more "
            "details on the differences between the two variants.", stacklevel=2)
        use_reentrant = False

    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))

    def run_function(start, end, functions):
        def forward(input):
            for j in range(start, end + 1):
                input = functions[j](input)
            return input

        return forward

    if isinstance(functions, rustgrad.nn.Sequential):
        functions = list(functions.children())

    segment_size = len(functions) // segments
    # The last chunk is not checkpointed: its activations are needed right away.
    end = -1
    for start in range(0, segment_size * (segments - 1), segment_size):
        end = start + segment_size - 1
        input = checkpoint(run_function(start, end, functions), input, use_reentrant=use_reentrant,
                           preserve_rng_state=preserve)
    return run_function(end + 1, len(functions) - 1, functions)(input)
