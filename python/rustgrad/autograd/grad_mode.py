"""Grad-mode context managers: ``no_grad``, ``enable_grad``, ``inference_mode``, ``set_grad_enabled``."""

import functools

from .. import _C

__all__ = ["no_grad", "enable_grad", "inference_mode", "set_grad_enabled"]


class _GradMode:
    """Base of the grad-mode context managers; also usable as decorators."""

    enabled = True

    def __enter__(self):
        self._prev = _C._set_grad_enabled(self.enabled)
        return self

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper

    def clone(self):
        return self.__class__()


class no_grad(_GradMode):
    """Disables gradient recording (context manager or decorator, with or without parentheses)."""

    enabled = False

    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class enable_grad(_GradMode):
    """Enables gradient recording (context manager or decorator)."""

    enabled = True


class inference_mode(_GradMode):
    """As ``no_grad`` when ``mode`` is True (rustgrad has no separate inference tensors)."""

    def __init__(self, mode=True):
        self.mode = mode
        self.enabled = not mode

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return fn(*args, **kwargs)

        return wrapper

    def clone(self):
        return self.__class__(self.mode)


class set_grad_enabled:
    """Sets grad mode on (True) or off (False): at once when called, restored when used as a
    context manager."""

    def __init__(self, mode):
        self._prev = _C._set_grad_enabled(bool(mode))
        self.mode = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        _C._set_grad_enabled(self._prev)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(self.mode):
                return fn(*args, **kwargs)

        return wrapper

    def clone(self):
        return self.__class__(self.mode)
