"""Anomaly mode: ``detect_anomaly()`` and ``set_detect_anomaly(True)``.

While it is on, every graph node remembers the Python traceback of the forward call that made it,
and the engine checks each gradient a node returns for NaN. A node that fails in backward raises,
after a warning that shows where its forward ran. Off, it costs nothing.
"""

import warnings

from .. import _C
from .._C import is_anomaly_check_nan_enabled, is_anomaly_enabled

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "is_anomaly_check_nan_enabled"]


class detect_anomaly:
    """Context manager (or decorator) that turns anomaly mode on for its block."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan
        self.prev = is_anomaly_enabled()
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime and should only "
                      "be enabled for debugging.", stacklevel=2)

    def __enter__(self):
        _C._set_detect_anomaly(True, self.check_nan)
        return self

    def __exit__(self, *exc):
        _C._set_detect_anomaly(self.prev, self.prev_check_nan)
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(self.check_nan):
                return fn(*args, **kwargs)

        return wrapper


class set_detect_anomaly:
    """Sets anomaly mode on or off: at once when called, restored when used as a context manager."""

    def __init__(self, mode, check_nan=True):
        self.prev = is_anomaly_enabled()
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        _C._set_detect_anomaly(bool(mode), bool(check_nan))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _C._set_detect_anomaly(self.prev, self.prev_check_nan)
        return False
