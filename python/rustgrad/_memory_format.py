"""Memory formats (``rustgrad.contiguous_format``, ``preserve_format``, ``channels_last``,
``channels_last_3d``), the values of PyTorch's ``memory_format=`` arguments.

rustgrad tensors are always row-major, so ``contiguous_format`` and ``preserve_format`` describe
every result; the functions that take ``memory_format`` (clone, contiguous, cpu, the ``*_like``
factories) check the channels-last formats' rank as PyTorch does and then raise
NotImplementedError (src/python/memory_format.rs).
"""

__all__ = ["memory_format", "contiguous_format", "preserve_format", "channels_last", "channels_last_3d"]


class memory_format:  # noqa: N801  (PyTorch's name)
    """A memory format; the four instances are the only ones (as in PyTorch)."""

    __slots__ = ("_memory_format_name",)
    _sealed = False

    def __new__(cls, name=None):
        if cls._sealed:
            raise TypeError("cannot create 'rustgrad.memory_format' instances")
        self = super().__new__(cls)
        self._memory_format_name = name
        return self

    def __repr__(self):
        return f"rustgrad.{self._memory_format_name}"

    def __reduce__(self):
        # Pickles (and deep copies) as the module-level singleton.
        return self._memory_format_name

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")
memory_format._sealed = True
