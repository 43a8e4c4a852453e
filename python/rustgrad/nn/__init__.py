"""``rustgrad.nn``: modules, parameters, ``functional`` and ``init``, as ``torch.nn``."""

# The modules first: they import functional, which imports modules.utils.
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules_all
from . import functional, init, utils  # noqa: F401,E402
from .parameter import Buffer, Parameter  # noqa: E402
# Module layout (issue 16): nn.parallel (its DataParallel is nn.DataParallel, as in PyTorch).
from . import parallel  # noqa: E402

_layout_names = ["parallel"]

__all__ = ["Buffer", "Parameter", "functional", "init", "utils"] + _layout_names + list(_modules_all)
