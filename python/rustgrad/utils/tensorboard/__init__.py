"""``rustgrad.utils.tensorboard``: ``SummaryWriter``, which writes TensorBoard event files through
the ``tensorboard`` package (an optional extra: ``pip install rustgrad[tensorboard]``)."""

try:
    import tensorboard  # noqa: F401
except ImportError as error:
    raise ImportError("rustgrad.utils.tensorboard needs the tensorboard package: "
                      "pip install rustgrad[tensorboard] (or pip install tensorboard)") from error

from .writer import SummaryWriter

__all__ = ["SummaryWriter"]
