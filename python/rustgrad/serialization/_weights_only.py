"""What ``load(..., weights_only=True)`` admits: the allow-list of globals and its user additions.

The restricted unpickler resolves a GLOBAL only through this allow-list (tensors, storages,
dtypes, Parameter, OrderedDict and a few builtins, plus whatever the user marked safe), so a
checkpoint cannot name, and therefore cannot call, anything else. The error texts are PyTorch's.
"""

import pickle

_BLOCKED_MODULES = ("sys", "os", "posix", "nt")

_UNSAFE_MESSAGE = (
    "In PyTorch 2.6, we changed the default value of the `weights_only` argument in `torch.load` "
    "from `False` to `True`. Re-running `torch.load` with `weights_only` set to `False` will likely succeed, "
    "but it can result in arbitrary code execution. Do it only if you got the file from a "
    "trusted source."
)
_DOCS_MESSAGE = (
    "\n\nCheck the documentation of torch.load to learn more about types accepted by default with "
    "weights_only https://pytorch.org/docs/stable/generated/torch.load.html."
)

_user_safe_globals = set()


def add_safe_globals(safe_globals):
    """Marks globals (functions or classes, or ``(obj, "module.name")`` pairs) as safe for
    ``weights_only`` loading."""
    global _user_safe_globals
    _user_safe_globals = _user_safe_globals.union(set(safe_globals))


def get_safe_globals():
    """The globals the user marked safe for ``weights_only`` loading."""
    return list(_user_safe_globals)


def clear_safe_globals():
    """Forgets every global the user marked safe."""
    global _user_safe_globals
    _user_safe_globals = set()


class safe_globals:
    """Context manager: the given globals are safe for ``weights_only`` loading inside it."""

    def __init__(self, safe_globals):
        self.safe_globals = safe_globals

    def __enter__(self):
        add_safe_globals(self.safe_globals)

    def __exit__(self, exc_type, exc_value, tb):
        global _user_safe_globals
        _user_safe_globals = _user_safe_globals.difference(set(self.safe_globals))


def _user_allowed():
    allowed = {}
    for entry in _user_safe_globals:
        if isinstance(entry, tuple):
            if len(entry) != 2:
                raise ValueError(
                    "Expected tuple of length 2 (global, str of callable full path), "
                    f"but got tuple of length: {len(entry)}"
                )
            if type(entry[1]) is not str:
                raise TypeError(
                    f"Expected second item in tuple to be str of callable full path, but got: {type(entry[1])}"
                )
            allowed[entry[1]] = entry[0]
        else:
            allowed[f"{entry.__module__}.{entry.__qualname__}"] = entry
    return allowed


def resolve(module, name, default_allowed):
    """The object a GLOBAL names, if it is allowed; else PyTorch's UnpicklingError."""
    full_path = f"{module}.{name}"
    if module in _BLOCKED_MODULES:
        raise pickle.UnpicklingError(
            f"Trying to load unsupported GLOBAL {full_path} whose module {module} is blocked."
        )
    if full_path in default_allowed:
        return default_allowed[full_path]
    user = _user_allowed()
    if full_path in user:
        return user[full_path]
    if full_path.startswith("builtins."):
        full_path = full_path[len("builtins.") :]
    raise pickle.UnpicklingError(
        f"Unsupported global: GLOBAL {full_path} was not an allowed global by default. "
        f"Please use `torch.serialization.add_safe_globals([{full_path}])` or the "
        f"`torch.serialization.safe_globals([{full_path}])` context manager to allowlist this global "
        "if you trust this class/function."
    )


def failure_message(message):
    """PyTorch's wording around an error of the restricted unpickler."""
    if "was not an allowed global by default." in message:
        text = (
            "Weights only load failed. This file can still be loaded, to do so you have two options, "
            "\033[1mdo those steps only if you trust the source of the checkpoint\033[0m. "
            f"\n\t(1) {_UNSAFE_MESSAGE}\n\t(2) Alternatively, to load with `weights_only=True` please check "
            "the recommended steps in the following error message.\n\tWeightsUnpickler error: " + message
        )
    else:
        text = f"Weights only load failed. {_UNSAFE_MESSAGE}\n"
        if "is blocked" not in message:
            text += (
                "Please file an issue with the following so that we can make "
                "`weights_only=True` compatible with your use case: WeightsUnpickler error: "
            )
        text += "\n\n" + message
    return text + _DOCS_MESSAGE
