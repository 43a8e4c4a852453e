"""Custom differentiable functions: ``class MyOp(autograd.Function)`` with static ``forward`` and
``backward``, applied with ``MyOp.apply(...)``.

``apply`` runs ``forward`` under no_grad and then records one graph node, named
``<ClassName>Backward``, whose rule is the class's ``backward``. The Rust engine calls that rule with
the GIL held for the call only; saved tensors are checked for in-place changes exactly as the
engine's own nodes' are.
"""

import functools
import threading
import warnings

from .. import _C
from .grad_mode import no_grad

__all__ = ["Function", "FunctionCtx", "once_differentiable", "InplaceFunction", "NestedIOFunction"]

# Kinds of saved tensor, as _C._record_function reads them.
_SAVED_INPUT, _SAVED_OUTPUT, _SAVED_OTHER = 0, 1, 2


# The saved tensors of the backward calls running on this thread, by id of their ctx. One node (and
# its ctx) may run on several threads at once when they backward through a shared graph kept with
# retain_graph=True, so a call's tensors cannot live on the ctx itself.
_running = threading.local()


def _running_saved():
    saved = getattr(_running, "saved", None)
    if saved is None:
        saved = _running.saved = {}
    return saved


class FunctionCtx:
    """The ``ctx`` a Function's ``forward``/``setup_context`` fills and its ``backward`` reads."""

    def save_for_backward(self, *tensors):
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, _C.Tensor):
                raise TypeError("save_for_backward can only save variables, but argument "
                                f"{i} is of type {type(t).__name__}")
        self.to_save = tensors

    def save_for_forward(self, *tensors):
        self.saved_for_forward = tensors

    def mark_dirty(self, *args):
        self.dirty_tensors = args

    def mark_non_differentiable(self, *args):
        self.non_differentiable = args

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)

    @property
    def saved_tensors(self):
        saved = _running_saved().get(id(self))
        if saved is None:
            if getattr(self, "_released", False):
                raise RuntimeError(
                    "Trying to backward through the graph a second time (or directly access saved tensors after "
                    "they have already been freed). Saved intermediate values of the graph are freed when you "
                    "call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
                    "through the graph a second time or if you need to access saved tensors after calling "
                    "backward.")
            return tuple(getattr(self, "to_save", ()))
        return saved

    saved_variables = saved_tensors


class _FunctionMeta(type):
    """Gives each Function subclass its grad_fn name, ``<ClassName>Backward``."""

    def __init__(cls, name, bases, attrs):
        cls._backward_name = name + "Backward"
        super().__init__(name, bases, attrs)


class Function(metaclass=_FunctionMeta):
    """Base class of custom autograd operations (PyTorch's ``torch.autograd.Function``)."""

    # The C++ machinery PyTorch exposes here has no counterpart; these flags keep scripts working.
    generate_vmap_rule = False

    def __init__(self, *args, **kwargs):
        warnings.warn(
            f"{self.__class__} should not be instantiated. Methods on autograd functions are all static, so you "
            "should invoke them on the class itself. Instantiating an autograd function will raise an error in a "
            "future version of PyTorch.", DeprecationWarning, stacklevel=2)

    @staticmethod
    def forward(*args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    vjp = backward

    @staticmethod
    def jvp(ctx, *grad_inputs):
        raise NotImplementedError("You must implement the jvp function for custom autograd.Function to use it "
                                  "with forward mode AD.")

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        # As in PyTorch, needs_input_grad reads requires_grad only; grad mode decides recording.
        ctx.needs_input_grad = tuple(isinstance(a, _C.Tensor) and a.requires_grad for a in args)
        recording = _C.is_grad_enabled() and any(ctx.needs_input_grad)
        separate_ctx = cls.setup_context is not Function.setup_context
        with no_grad():
            if separate_ctx:
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
            else:
                output = cls.forward(ctx, *args, **kwargs)
        return _record(cls, ctx, args, output, recording)


def _record(cls, ctx, args, output, recording):
    """Wires ``output`` (what forward returned) into the graph as the outputs of one node."""
    is_tuple = isinstance(output, tuple)
    outputs = output if is_tuple else (output,)
    tensor_pos = [i for i, a in enumerate(args) if isinstance(a, _C.Tensor)]
    inputs = [args[i] for i in tensor_pos]
    dirty = getattr(ctx, "dirty_tensors", ())
    non_diff = getattr(ctx, "non_differentiable", ())

    # PyTorch checks that dirty tensors are returned whether or not it records; while recording, a
    # dirty leaf that requires grad is an error and a dirty tensor that is not an input only warns.
    for t in dirty:
        if not any(t is o for o in outputs):
            raise RuntimeError("Some elements marked as dirty during the forward method were not returned as "
                               "output. The inputs that are modified inplace must all be outputs of the "
                               "Function.")
    if recording:
        for t in dirty:
            if t.requires_grad and t.is_leaf:
                raise RuntimeError("a leaf Variable that requires grad has been used in an in-place operation.")
            if not any(t is i for i in inputs):
                warnings.warn("ctx.mark_dirty() received a tensor that was not an input. Only input Tensors "
                              "that have been mutated should be passed to ctx.mark_dirty().", UserWarning,
                              stacklevel=3)

    # As PyTorch's mark_dirty, one more version for the tensors changed in place: tensors saved
    # before the change are then refused at backward even when forward's own write bumped nothing.
    for t in dirty:
        t._bump_version()

    differentiable_at = [not any(o is n for n in non_diff) for o in outputs]
    # An input returned as it is becomes a new tensor (an alias), unless forward changed it in place.
    # As in PyTorch, an input that requires grad but gets no history here (nothing is recorded, or
    # it is marked non-differentiable) comes back as a detached alias, even when it is dirty.
    new_outputs = []
    for o in outputs:
        if isinstance(o, _C.Tensor) and any(o is i for i in inputs):
            differentiable = recording and not any(o is n for n in non_diff)
            if not differentiable and o.requires_grad:
                o = o.detach()
            elif not any(o is d for d in dirty):
                with no_grad():
                    o = o.view_as(o)
        new_outputs.append(o)
    outputs = tuple(new_outputs)
    out_pos = [j for j, o in enumerate(outputs) if isinstance(o, _C.Tensor)]
    tensor_outputs = [outputs[j] for j in out_pos]

    if recording:
        saved_spec, saved_slots = _saved_spec(ctx, inputs, tensor_outputs)
        differentiable = [differentiable_at[j] for j in out_pos]
        meta = [(o.shape, o.dtype, o.device) for o in tensor_outputs]
        backward = _backward_rule(cls, ctx, args, tensor_pos, meta, saved_slots, out_pos, len(outputs))
        is_dirty = [any(o is d for d in dirty) for o in tensor_outputs]
        _C._record_function(cls._backward_name, inputs, tensor_outputs, differentiable, is_dirty, saved_spec,
                            backward)
    return outputs if is_tuple else outputs[0]


def _saved_spec(ctx, inputs, tensor_outputs):
    """What to save, as the engine reads it, and where None placeholders go back in."""
    spec, slots = [], []
    for t in getattr(ctx, "to_save", ()):
        if t is None:
            slots.append(None)
            continue
        slots.append(len(spec))
        i = next((k for k, x in enumerate(inputs) if x is t), None)
        j = next((k for k, x in enumerate(tensor_outputs) if x is t), None)
        if i is not None and j is None:
            spec.append((_SAVED_INPUT, i))
        elif j is not None:
            spec.append((_SAVED_OUTPUT, j))
        else:
            spec.append((_SAVED_OTHER, t))
    # Saved tensors now live in the node; the ctx keeps none of them alive.
    ctx.to_save = ()
    return spec, slots


def _backward_rule(cls, ctx, args, tensor_pos, meta, saved_slots, out_pos, n_outputs):
    """The callable the engine runs: ``(saved, grad_outputs) -> one gradient per tensor input``.

    ``backward`` gets one gradient per output of ``forward``, None for its non-tensor outputs."""
    name = cls._backward_name
    n_args = len(args)
    tensor_set = set(tensor_pos)
    del args

    def rule(saved, grad_outputs):
        if getattr(ctx, "materialize_grads", True):
            grad_outputs = tuple(g if g is not None else _C.zeros(shape, dtype=dtype, device=device)
                                 for g, (shape, dtype, device) in zip(grad_outputs, meta))
        if len(out_pos) != n_outputs:
            full = [None] * n_outputs
            for j, g in zip(out_pos, grad_outputs):
                full[j] = g
            grad_outputs = tuple(full)
        running = _running_saved()
        key = id(ctx)
        outer = running.get(key)
        running[key] = tuple(None if s is None else saved[s] for s in saved_slots)
        try:
            result = cls.backward(ctx, *grad_outputs)
        finally:
            if outer is None:
                del running[key]
            else:
                running[key] = outer
            ctx._released = True
        if not isinstance(result, tuple):
            result = (result,)
        if len(result) > n_args and all(g is None for g in result[n_args:]):
            result = result[:n_args]
        if len(result) != n_args:
            raise RuntimeError(f"function {name} returned an incorrect number of gradients "
                               f"(expected {n_args}, got {len(result)})")
        grads = []
        for i, g in enumerate(result):
            if i not in tensor_set:
                if g is not None:
                    raise RuntimeError(f"function {name} returned a gradient different than None at position "
                                       f"{i + 1}, but the corresponding forward input was not a Variable")
                continue
            if g is not None and not isinstance(g, _C.Tensor):
                raise RuntimeError(f"expected Variable or None (got {type(g).__name__})")
            grads.append(g)
        return grads

    return rule


class _OnceDifferentiableError(Function):
    """Stands between a once-differentiable backward's result and any attempt to differentiate it."""

    @staticmethod
    def forward(ctx, *grads):
        return grads

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError("trying to differentiate twice a function that was marked with @once_differentiable")


def once_differentiable(fn):
    """Marks a ``backward`` as not differentiable itself: it runs under no_grad, and a later attempt
    to differentiate through its result raises."""

    @functools.wraps(fn)
    def wrapper(ctx, *args):
        with no_grad():
            outputs = fn(ctx, *args)
        if not _C.is_grad_enabled():
            return outputs
        requires = any(isinstance(a, _C.Tensor) and a.requires_grad for a in args)
        if not requires:
            return outputs
        single = not isinstance(outputs, tuple)
        items = (outputs,) if single else outputs
        tensor_idx = [k for k, o in enumerate(items) if isinstance(o, _C.Tensor)]
        guard_inputs = [a for a in args if isinstance(a, _C.Tensor) and a.requires_grad]
        wrapped = _OnceDifferentiableError.apply(*[items[k] for k in tensor_idx], *guard_inputs)
        wrapped = wrapped if isinstance(wrapped, tuple) else (wrapped,)
        items = list(items)
        for k, w in zip(tensor_idx, wrapped):
            items[k] = w
        return items[0] if single else tuple(items)

    return wrapper


class _IdentityForHooks(Function):
    """Passes tensors through unchanged; module backward hooks hang on its node."""

    @staticmethod
    def forward(ctx, *tensors):
        ctx.mark_non_differentiable(*[t for t in tensors if not t.requires_grad])
        return tensors

    @staticmethod
    def backward(ctx, *grads):
        return grads


class InplaceFunction(Function):
    """A Function with an ``inplace`` flag (kept for old code)."""


class NestedIOFunction(Function):
    """Legacy base class; not supported."""

    @classmethod
    def apply(cls, *args, **kwargs):
        raise NotImplementedError("NestedIOFunction is a legacy API that rustgrad does not implement; "
                                  "use a static-method autograd.Function")
