"""``rustgrad.Size``: the type of ``tensor.shape`` (a tuple, as ``torch.Size``)."""


class Size(tuple):
    """A tensor shape: a tuple of ints that prints as ``rustgrad.Size([2, 3])``."""

    __slots__ = ()

    def __repr__(self):
        return f"rustgrad.Size([{', '.join(str(d) for d in self)}])"

    def numel(self):
        n = 1
        for d in self:
            n *= d
        return n

    def __getitem__(self, item):
        out = tuple.__getitem__(self, item)
        return Size(out) if isinstance(item, slice) else out

    def __add__(self, other):
        return Size(tuple.__add__(self, tuple(other)))

    def __radd__(self, other):
        return Size(tuple(other) + tuple(self))
