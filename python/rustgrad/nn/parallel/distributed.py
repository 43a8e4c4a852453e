"""``DistributedDataParallel``: multi-process training is not implemented yet (``rustgrad.distributed``)."""

from ..modules.module import Module


class DistributedDataParallel(Module):
    """Raises NotImplementedError: it needs process groups, which rustgrad does not have yet."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0, *args, **kwargs):
        raise NotImplementedError("rustgrad.nn.parallel.DistributedDataParallel: rustgrad.distributed "
                                  "(multi-process training) is not implemented yet")
