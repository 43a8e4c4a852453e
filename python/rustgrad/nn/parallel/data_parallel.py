"""``DataParallel``: as PyTorch's on a machine with at most one GPU, it runs the wrapped module.

With no usable GPU the module runs unchanged on its inputs; with one GPU the inputs are moved to
the first device id first. Splitting a batch over several GPUs is not implemented.
"""

from ..modules.module import Module


def _to_device(obj, device):
    """``obj`` with every tensor in it (also inside tuples, lists and dicts) moved to ``device``."""
    from ... import Tensor

    if isinstance(obj, Tensor):
        return obj.to(device)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_to_device(o, device) for o in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(o, device) for o in obj)
    if isinstance(obj, dict):
        return type(obj)((k, _to_device(v, device)) for k, v in obj.items())
    return obj


def _device_index(device):
    if isinstance(device, int):
        return device
    from ... import device as make_device

    index = make_device(device).index
    return 0 if index is None else index


class DataParallel(Module):
    """Wraps ``module`` (its parameters appear under ``module.`` in ``state_dict``, as in PyTorch)."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        from ... import cuda

        self.module = module
        if not cuda.is_available():
            # PyTorch keeps only these two facts when there is no GPU.
            self.device_ids = []
            return
        if device_ids is None:
            device_ids = list(range(cuda.device_count()))
        device_ids = [_device_index(d) for d in device_ids]
        if output_device is None:
            output_device = device_ids[0]
        if len(device_ids) > 1:
            raise NotImplementedError("DataParallel over several GPUs is not implemented in rustgrad; "
                                      "wrap the module for one device")
        self.dim = dim
        self.device_ids = device_ids
        self.output_device = _device_index(output_device)
        self.src_device_obj = f"cuda:{device_ids[0]}"

    def forward(self, *inputs, **kwargs):
        if not self.device_ids:
            return self.module(*inputs, **kwargs)
        inputs = _to_device(inputs, self.src_device_obj)
        kwargs = _to_device(kwargs, self.src_device_obj)
        return self.module(*inputs, **kwargs)
