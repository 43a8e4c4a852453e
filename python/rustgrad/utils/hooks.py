"""Hook handles (as ``torch.utils.hooks``)."""

import weakref

__all__ = ["RemovableHandle"]


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

