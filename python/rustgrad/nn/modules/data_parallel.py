"""DataParallel: replicates a module over several GPUs and splits the batch between them. rustgrad
runs it as PyTorch does with at most one device: on the CPU (no GPU) it calls the module as it is;
with one GPU it moves the inputs to it; more than one device raises NotImplementedError."""

from ... import _C, cuda
from .module import Module

__all__ = ["DataParallel"]


def _to_device(value, device):
    if isinstance(value, _C.Tensor):
        return value.to(device)
    if isinstance(value, (list, tuple)):
        return type(value)(_to_device(v, device) for v in value)
    if isinstance(value, dict):
        return {k: _to_device(v, device) for k, v in value.items()}
    return value


def _index(device):
    if isinstance(device, int):
        return device
    return _C.device(device).index if not isinstance(device, _C.device) else device.index


class DataParallel(Module):
    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        self.module = module
        self.dim = dim
        if not cuda.is_available():
            self.device_ids = []
            return
        if device_ids is None:
            device_ids = list(range(cuda.device_count()))
        self.device_ids = [_index(d) for d in device_ids]
        if len(self.device_ids) > 1:
            raise NotImplementedError("DataParallel: replicating a module over more than one device is not "
                                      f"supported (device_ids={self.device_ids})")
        if output_device is None:
            output_device = self.device_ids[0]
        self.output_device = _index(output_device)
        self.src_device_obj = _C.device("cuda", self.device_ids[0])

    def forward(self, *inputs, **kwargs):
        if not self.device_ids:
            return self.module(*inputs, **kwargs)
        for t in self.module.parameters():
            if t.device != self.src_device_obj:
                raise RuntimeError("module must have its parameters and buffers on device "
                                   f"{self.src_device_obj} (device_ids[0]) but found one of them on device: "
                                   f"{t.device}")
        out = self.module(*_to_device(inputs, self.src_device_obj), **_to_device(kwargs, self.src_device_obj))
        return _to_device(out, _C.device("cuda", self.output_device))
