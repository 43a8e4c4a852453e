"""Hook handles (as ``torch.utils.hooks``)."""

import weakref

from .. import _C
from ..autograd.function import _IdentityForHooks

__all__ = ["RemovableHandle", "BackwardHook"]


class RemovableHandle:
    """A handle that removes a hook from the dictionaries it was registered in.

    ``hooks_dict`` is the ordered dict the hook lives in; ``extra_dict`` (a dict or a list of
    dicts) holds per-hook flags keyed by the same id (e.g. "this hook takes kwargs"). The dicts are
    held weakly so a handle does not keep its module alive (so they must be OrderedDicts: plain
    dicts cannot be weakly referenced).
    """

    next_id = 0

    def __init__(self, hooks_dict, *, extra_dict=None):
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        if extra_dict is None:
            extra_dict = []
        elif isinstance(extra_dict, dict):
            extra_dict = [extra_dict]
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extra_dict)

    def remove(self):
        hooks_dict = self.hooks_dict_ref()
        if hooks_dict is not None and self.id in hooks_dict:
            del hooks_dict[self.id]
        for ref in self.extra_dict_ref:
            extra = ref()
            if extra is not None and self.id in extra:
                del extra[self.id]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()



class BackwardHook:
    """Runs a module's full backward hooks for one call of the module.

    The module's tensor arguments and its tensor outputs each pass through an identity Function. The
    outputs' node sees the gradients of the outputs first: the backward pre-hooks run there (and may
    replace them). The arguments' node sees the gradients of the arguments last: the backward hooks
    run there with both, and may replace the arguments' gradients. When no argument requires grad,
    the backward hooks run at the outputs' node with ``grad_input`` all None, as in PyTorch.
    """

    def __init__(self, module, user_hooks, user_pre_hooks):
        self.module = module
        self.user_hooks = user_hooks
        self.user_pre_hooks = user_pre_hooks
        self.grad_outputs = None
        self.n_inputs = 0
        self.input_tensor_positions = []

    def setup_input_hook(self, args):
        positions = [i for i, a in enumerate(args) if isinstance(a, _C.Tensor)]
        # grad_input has one entry per positional argument, None for those that are not tensors.
        self.n_inputs = len(args)
        self.input_tensor_positions = positions
        if not self.user_hooks or not any(args[i].requires_grad for i in positions) or not _C.is_grad_enabled():
            self.inputs_hooked = False
            return args
        args, node = _through_identity(args, positions)
        node.register_hook(self._input_hook)
        self.inputs_hooked = True
        return args

    def setup_output_hook(self, output):
        single = isinstance(output, _C.Tensor)
        items = (output,) if single else output
        if not isinstance(items, tuple) or not _C.is_grad_enabled():
            return output
        positions = [i for i, o in enumerate(items) if isinstance(o, _C.Tensor) and o.requires_grad]
        if not positions:
            return output
        items, node = _through_identity(items, positions)
        node.register_prehook(self._output_prehook)
        return items[0] if single else items

    def _output_prehook(self, grad_outputs):
        for hook in self.user_pre_hooks:
            result = hook(self.module, grad_outputs)
            if result is not None:
                result = result if isinstance(result, tuple) else (result,)
                if len(result) != len(grad_outputs):
                    raise RuntimeError("Backward pre hook returned an invalid number of grad_output, got "
                                       f"{len(result)}, but expected {len(grad_outputs)}")
                grad_outputs = result
        self.grad_outputs = grad_outputs
        if not self.inputs_hooked:
            for hook in self.user_hooks:
                result = hook(self.module, (None,) * self.n_inputs, grad_outputs)
                if result is not None and not all(r is None for r in result):
                    raise RuntimeError("Backward hook for Modules where no input requires gradient should "
                                       "always return None or None for all gradients.")
        return grad_outputs

    def _input_hook(self, grad_inputs, _grad_outputs_of_identity):
        packed = [None] * self.n_inputs
        for i, g in zip(self.input_tensor_positions, grad_inputs):
            packed[i] = g
        packed = tuple(packed)
        for hook in self.user_hooks:
            result = hook(self.module, packed, self.grad_outputs)
            if result is not None:
                result = result if isinstance(result, tuple) else (result,)
                if len(result) != len(packed):
                    raise RuntimeError("Backward hook returned an invalid number of grad_input, got "
                                       f"{len(result)}, but expected {len(packed)}")
                packed = result
        self.grad_outputs = None
        return tuple(packed[i] for i in self.input_tensor_positions)


def _through_identity(items, positions):
    """``items`` with the tensors at ``positions`` passed through one identity Function, and that
    Function's node (where the module's hooks hang)."""
    wrapped = _IdentityForHooks.apply(*[items[i] for i in positions])
    wrapped = wrapped if isinstance(wrapped, tuple) else (wrapped,)
    node = next(w.grad_fn for w in wrapped if w.grad_fn is not None)
    items = list(items)
    for i, w in zip(positions, wrapped):
        items[i] = w
    return tuple(items), node
