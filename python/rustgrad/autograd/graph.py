"""The backward graph as Python sees it: ``Node`` (a tensor's ``grad_fn``) and its hooks, hooks on
saved tensors (``saved_tensors_hooks``, ``save_on_cpu``), what a running backward reaches
(``current_backward_leaves``, ours), and pictures of the graph (``to_dot``, ours).
"""

import contextlib
import weakref

from .. import _C
from .._C import Node, current_backward_leaves
from .._tensor import RemovableHandle

__all__ = ["Node", "saved_tensors_hooks", "save_on_cpu", "disable_saved_tensors_hooks", "register_multi_grad_hook",
           "current_backward_leaves", "to_dot", "increment_version"]


def _node_register_hook(self, fn):
    """``fn(grad_inputs, grad_outputs)`` runs after this node computed its gradients; it may return
    replacements for ``grad_inputs``."""
    leaf = self.variable
    if leaf is not None:
        # AccumulateGrad: as in PyTorch the hook runs once ``.grad`` was accumulated (old DDP-style
        # code reads ``p.grad`` there), with the gradient that arrived as grad_outputs.
        arrived = {}

        def keep(g):
            arrived["g"] = g

        def post(_tensor):
            fn((), (arrived.pop("g", None),))

        handles = (leaf.register_hook(keep), leaf.register_post_accumulate_grad_hook(post))
        return RemovableHandle(lambda: [h.remove() for h in handles])
    hook_id = self._register_hook(fn)
    return RemovableHandle(lambda: self._remove_hook(hook_id))


def _node_register_prehook(self, fn):
    """``fn(grad_outputs)`` runs before this node computes; it may return replacements."""
    leaf = self.variable
    if leaf is not None:
        def tensor_hook(g):
            result = fn((g,))
            return None if result is None else result[0]
        return leaf.register_hook(tensor_hook)
    hook_id = self._register_prehook(fn)
    return RemovableHandle(lambda: self._remove_hook(hook_id))


# The names PyTorch gives the saved tensors of its common nodes (``grad_fn._saved_self``), in the
# order our nodes save them. Single-input nodes not listed save ``self`` or ``result``.
_SAVED_NAMES = {
    "MulBackward0": ("self", "other"),
    "DivBackward0": ("self", "other"),
    "PowBackward1": ("self", "exponent", "result"),
    "MmBackward0": ("self", "mat2"),
    "BmmBackward0": ("self", "mat2"),
    "AddmmBackward0": ("mat1", "mat2"),
    "ConvolutionBackward0": ("input", "weight"),
    "MaximumBackward0": ("self", "other"),
    "MinimumBackward0": ("self", "other"),
}


# Saved tensors that PyTorch's node keeps in another layout than ours: our linear node
# (AddmmBackward0) keeps the weight, PyTorch's addmm keeps ``mat2 = weight.t()``.
_SAVED_VIEWS = {
    ("AddmmBackward0", "mat2"): lambda t: t.t(),
}


def _saved_view(node_name, name, tensor):
    view = _SAVED_VIEWS.get((node_name, name))
    return tensor if view is None or tensor is None else view(tensor)


def _saved_names(node):
    info = node._saved_tensors_info()
    names = _SAVED_NAMES.get(node.name())
    if names is not None and len(names) == len(info):
        return names
    if len(info) == 1:
        return ("result",) if info[0][1] else ("self",)
    return tuple(f"tensor_{k}" for k in range(len(info)))


def _node_getattr(self, name):
    if name.startswith("_saved_"):
        key = name[len("_saved_"):]
        try:
            names = _saved_names(self)
        except RuntimeError:
            # Freed by a backward: a name the node may have had raises PyTorch's error; any other is
            # no attribute at all (AttributeError, so hasattr() and getattr(..., default) work).
            possible = _SAVED_NAMES.get(self.name(), ("self", "result", "tensors"))
            if key in possible or key == "tensors" or key.startswith("tensor_"):
                raise
            names = ()
        if key in names:
            return _saved_view(self.name(), key, self._unpack_saved()[names.index(key)])
        if key == "tensors":
            return tuple(self._unpack_saved())
    raise AttributeError(f"'{self.name()}' object has no attribute '{name}'")


def _node_dir(self):
    try:
        saved = {"_saved_" + n for n in _saved_names(self)}
    except RuntimeError:  # freed by a backward; dir() must not raise
        saved = set()
    return sorted(set(object.__dir__(self)) | saved)


Node.register_hook = _node_register_hook
Node.register_prehook = _node_register_prehook
Node.__getattr__ = _node_getattr
Node.__dir__ = _node_dir


class saved_tensors_hooks:
    """Context manager: every tensor an op saves for backward inside the block goes through
    ``pack_hook(tensor)``; the backward gets ``unpack_hook(packed)`` in its place. Per thread."""

    def __init__(self, pack_hook, unpack_hook):
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self):
        _C._push_saved_tensors_hooks(self.pack_hook, self.unpack_hook)
        return self

    def __exit__(self, *exc):
        _C._pop_saved_tensors_hooks()
        return False


class save_on_cpu(saved_tensors_hooks):
    """Keeps the tensors saved for backward in CPU memory and moves them back to their device when
    backward needs them (``pin_memory`` is accepted; CPU memory here is not pinned)."""

    def __init__(self, pin_memory=False, device_type="cuda"):
        def pack(tensor):
            return tensor.device, tensor.to("cpu", copy=True)

        def unpack(packed):
            device, tensor = packed
            return tensor.to(device)

        super().__init__(pack, unpack)


@contextlib.contextmanager
def disable_saved_tensors_hooks(error_message):
    """Makes registering saved-tensor hooks inside the block raise ``RuntimeError(error_message)``."""
    original = saved_tensors_hooks.__enter__

    def refuse(self):
        raise RuntimeError(error_message)

    saved_tensors_hooks.__enter__ = refuse
    try:
        yield
    finally:
        saved_tensors_hooks.__enter__ = original


def register_multi_grad_hook(tensors, fn, *, mode="all"):
    """Calls ``fn`` once per backward after the gradients of all ``tensors`` that the backward
    reaches were computed (``mode="all"``: with the list of gradients, None for those not reached),
    or with the first one computed (``mode="any"``)."""
    if mode not in ("all", "any"):
        raise ValueError(f"Expects mode to be one of ('all', 'any') but got {mode}")
    tensors = tuple(tensors)
    # The state of the backward now running. Its end-of-backward callback is held only by the
    # engine, weakly here: a backward that raised drops its callbacks, and the next backward starts
    # afresh instead of adding to the gradients of the failed one (PyTorch keys on the graph task).
    state = {"grads": None, "fired": False, "pending": None}

    def make_hook(i):
        def hook(grad):
            pending = state["pending"]
            if pending is None or pending() is None:
                grads = [None] * len(tensors)

                def finish():
                    state["pending"] = None
                    if mode == "all":
                        fn(grads)

                state.update(grads=grads, fired=False, pending=weakref.ref(finish))
                _C._queue_callback(finish)
            state["grads"][i] = grad
            if mode == "any" and not state["fired"]:
                state["fired"] = True
                fn(grad)
        return hook

    handles = [t.register_hook(make_hook(i)) for i, t in enumerate(tensors) if t.requires_grad]

    class _MultiHandle:
        def remove(self):
            for h in handles:
                h.remove()

    return _MultiHandle()


def increment_version(tensor):
    """Bumps the version counter of ``tensor`` as an in-place change would."""
    tensor._bump_version()


# ----- pictures of the graph ----------------------------------------------------------------------

def _dot_quote(text):
    # Line breaks as DOT's escape sequence: labels are escStrings, where "\n" centers a new line.
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _size(shape):
    return "(" + ", ".join(str(s) for s in shape) + ")"


def to_dot(output, params=None, show_saved=True):
    """Graphviz DOT text of the backward graph that ends in ``output`` (a tensor or a sequence of
    tensors): one box per node named as PyTorch names it, the leaves with their parameter names
    (from ``params``, e.g. ``dict(model.named_parameters())``) and shapes, and the shapes of the
    tensors each node saved for backward. Render it with Graphviz (``dot -Tpng``) or, when the
    ``graphviz`` package is installed, ``graphviz.Source(text)``."""
    outputs = tuple(output) if isinstance(output, (list, tuple)) else (output,)
    param_names = {p._cdata: name for name, p in (params or {}).items()}
    lines = ["digraph {", '    graph [rankdir=BT]',
             '    node [align=left fontname=monospace fontsize=10 height=0.2 ranksep=0.1 shape=box style=filled]']
    ids = {}

    def node_id(node):
        key = hash(node)
        if key not in ids:
            ids[key] = f"n{len(ids)}"
        return ids[key], key

    seen = set()
    stack = []
    for k, out in enumerate(outputs):
        oid = f"out{k}"
        lines.append(f"    {oid} [label={_dot_quote('output ' + _size(out.shape))} fillcolor=darkolivegreen1]")
        if out.grad_fn is not None:
            nid, _ = node_id(out.grad_fn)
            lines.append(f"    {nid} -> {oid}")
            stack.append(out.grad_fn)
        elif out.requires_grad:
            lines.append(f"    {oid} [label={_dot_quote(_leaf_label(out, param_names))} fillcolor=lightblue]")
    while stack:
        node = stack.pop()
        nid, key = node_id(node)
        if key in seen:
            continue
        seen.add(key)
        leaf = node.variable
        if leaf is not None:
            lines.append(f"    {nid} [label={_dot_quote(_leaf_label(leaf, param_names))} fillcolor=lightblue]")
            continue
        lines.append(f"    {nid} [label={_dot_quote(node.name())} fillcolor=lightgrey]")
        if show_saved:
            try:
                info = node._saved_tensors_info()
                names = _saved_names(node)
            except RuntimeError:  # freed by a backward without retain_graph
                info, names = [], ()
            for j, ((tensor, _), name) in enumerate(zip(info, names)):
                tensor = _saved_view(node.name(), name, tensor)
                sid = f"{nid}_s{j}"
                label = name + ("\n" + _size(tensor.shape) if tensor is not None else "\n(packed)")
                lines.append(f"    {sid} [label={_dot_quote(label)} fillcolor=orange]")
                lines.append(f"    {sid} -> {nid} [style=dotted]")
        for nxt, _ in node.next_functions:
            if nxt is None:
                continue
            next_id, _ = node_id(nxt)
            lines.append(f"    {next_id} -> {nid}")
            stack.append(nxt)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _leaf_label(tensor, param_names):
    name = param_names.get(tensor._cdata)
    return (name + "\n" if name else "") + _size(tensor.shape)
