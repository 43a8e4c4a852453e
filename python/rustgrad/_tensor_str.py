"""Printing tensors the way PyTorch prints them."""

import math

from . import _C

_PRECISION = 4
_THRESHOLD = 1000
_EDGEITEMS = 3
_LINEWIDTH = 80
_SCI_MODE = None


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """Same options as ``torch.set_printoptions``."""
    global _PRECISION, _THRESHOLD, _EDGEITEMS, _LINEWIDTH, _SCI_MODE
    if profile == "default":
        _PRECISION, _THRESHOLD, _EDGEITEMS, _LINEWIDTH = 4, 1000, 3, 80
    elif profile == "short":
        _PRECISION, _THRESHOLD, _EDGEITEMS, _LINEWIDTH = 2, 1000, 2, 80
    elif profile == "full":
        _PRECISION, _THRESHOLD, _EDGEITEMS, _LINEWIDTH = 4, math.inf, 3, 80
    if precision is not None:
        _PRECISION = precision
    if threshold is not None:
        _THRESHOLD = threshold
    if edgeitems is not None:
        _EDGEITEMS = edgeitems
    if linewidth is not None:
        _LINEWIDTH = linewidth
    _SCI_MODE = sci_mode


class _Formatter:
    """Chooses one width and notation for all elements, as PyTorch's _Formatter does."""

    def __init__(self, values, floating):
        self.floating = floating
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        if not floating:
            for v in values:
                self.max_width = max(self.max_width, len(str(v)))
            return
        finite = [abs(v) for v in values if math.isfinite(v)]
        nonzero = [v for v in finite if v != 0]
        if not finite:
            for v in values:
                self.max_width = max(self.max_width, len(_float_special(v)))
            return
        self.int_mode = all(float(v).is_integer() for v in finite)
        if self.int_mode:
            if nonzero and (max(nonzero) / min(nonzero) > 1000.0 or max(nonzero) > 1e8):
                self.sci_mode = True
                for v in values:
                    self.max_width = max(self.max_width, len(f"{v:.{_PRECISION}e}"))
            else:
                for v in values:
                    self.max_width = max(self.max_width, len(f"{v:.0f}."))
        else:
            if nonzero and (max(nonzero) / min(nonzero) > 1000.0 or max(nonzero) > 1e8 or min(nonzero) < 1e-4):
                self.sci_mode = True
                for v in values:
                    self.max_width = max(self.max_width, len(f"{v:.{_PRECISION}e}"))
            else:
                for v in values:
                    self.max_width = max(self.max_width, len(f"{v:.{_PRECISION}f}"))
        if _SCI_MODE is not None:
            self.sci_mode = _SCI_MODE

    def width(self):
        return self.max_width

    def format(self, v):
        if not self.floating:
            s = str(v)
        elif not math.isfinite(v):
            s = _float_special(v)
        elif self.sci_mode:
            s = f"{v:.{_PRECISION}e}"
        elif self.int_mode:
            s = f"{v:.0f}."
        else:
            s = f"{v:.{_PRECISION}f}"
        return " " * (self.max_width - len(s)) + s


def _float_special(v):
    if math.isnan(v):
        return "nan"
    return "inf" if v > 0 else "-inf"


def _summarize(values, shape, summarize):
    """Nested lists of the printed elements (with Ellipsis where elided)."""
    if not shape:
        return values
    n = shape[0]
    if summarize and n > 2 * _EDGEITEMS:
        idx = list(range(_EDGEITEMS)) + [None] + list(range(n - _EDGEITEMS, n))
    else:
        idx = list(range(n))
    return [Ellipsis if i is None else _summarize(values[i], shape[1:], summarize) for i in idx]


def _flatten(nested):
    if isinstance(nested, list):
        for x in nested:
            yield from _flatten(x)
    elif nested is not Ellipsis:
        yield nested


def _format_nested(nested, fmt, indent, ndim):
    if ndim == 0:
        return fmt.format(nested)
    if ndim == 1:
        items = [" ..." if x is Ellipsis else fmt.format(x) for x in nested]
        per_line = max(1, (_LINEWIDTH - indent) // (fmt.width() + 2))
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    sep = "," + "\n" * (ndim - 1) + " " * (indent + 1)
    parts = ["..." if x is Ellipsis else _format_nested(x, fmt, indent + 1, ndim - 1) for x in nested]
    return "[" + sep.join(parts) + "]"


def tensor_repr(t, prefix="tensor("):
    dtype = t.dtype
    floating = dtype.is_floating_point
    summarize = t.numel() > _THRESHOLD
    values = t.detach().cpu().tolist()
    shape = tuple(t.shape)
    indent = len(prefix)
    suffixes = []
    if t.numel() == 0 and len(shape) != 1:
        body = "[]"
        suffixes.append(f"size={tuple(shape)}")
    else:
        nested = _summarize(values, shape, summarize)
        flat = list(_flatten(nested)) if shape else [nested]
        if dtype == _C.bool:
            fmt = _BoolFormatter(flat)
        else:
            fmt = _Formatter(flat, floating)
        body = _format_nested(nested, fmt, indent, len(shape))
    if t.device.type != "cpu":
        suffixes.append(f"device='{t.device}'")
    if dtype not in (_C.get_default_dtype(), _C.int64, _C.bool):
        suffixes.append(f"dtype={dtype!r}")
    elif dtype == _C.int64 and t.numel() == 0 and floating is False and len(shape) == 1:
        suffixes.append(f"dtype={dtype!r}")
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return prefix + body + "".join(", " + s for s in suffixes) + ")"


class _BoolFormatter:
    def __init__(self, values):
        self.max_width = max([len(str(v)) for v in values] or [1])

    def width(self):
        return self.max_width

    def format(self, v):
        s = str(v)
        return " " * (self.max_width - len(s)) + s
