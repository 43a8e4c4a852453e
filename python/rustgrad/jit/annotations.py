"""``rustgrad.jit.annotations``: the typing names TorchScript code imports from here."""

from typing import Any, Dict, List, Optional, Tuple, Union  # noqa: F401
