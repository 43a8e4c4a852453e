"""``rustgrad.onnx``: ONNX export is not implemented yet.

The module imports, so scripts that import it at the top and export only under a flag run;
``export`` and ``dynamo_export`` raise NotImplementedError.
"""

__all__ = ["export", "dynamo_export", "is_in_onnx_export"]

_MISSING = "ONNX export (rustgrad.onnx.export) is not implemented yet"


def export(model, args=(), f=None, *pargs, **kwargs):
    raise NotImplementedError(_MISSING)


def dynamo_export(model, *model_args, **kwargs):
    raise NotImplementedError(_MISSING)


def is_in_onnx_export():
    """False: no export is ever running."""
    return False
