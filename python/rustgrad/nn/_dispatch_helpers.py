"""Two small helpers that ``torch.nn.functional`` exposes and scripts occasionally use:
assert_int_or_pair and boolean_dispatch. Re-exported by ``nn.functional``."""


def assert_int_or_pair(arg, arg_name, message):
    """AssertionError(message formatted with ``arg_name``) unless ``arg`` is an int or has two items."""
    if not (isinstance(arg, int) or len(arg) == 2):
        raise AssertionError(message.format(arg_name))


def boolean_dispatch(arg_name, arg_index, default, if_true, if_false, module_name=None, func_name=None):
    """A function that calls ``if_true`` or ``if_false`` with its arguments, by the value of the
    boolean argument ``arg_name`` (keyword, else position ``arg_index``, else ``default``) — how
    max_pool2d with/without return_indices is built."""

    def dispatch(*args, **kwargs):
        if arg_name in kwargs:
            flag = kwargs[arg_name]
        elif arg_index < len(args):
            flag = args[arg_index]
        else:
            flag = default
        return (if_true if flag else if_false)(*args, **kwargs)

    if if_true.__doc__ is not None and if_false.__doc__ is not None:
        raise RuntimeError("only one function can have a docstring")
    dispatch.__doc__ = if_true.__doc__ if if_true.__doc__ is not None else if_false.__doc__
    if module_name is not None:
        dispatch.__module__ = module_name
    if func_name is not None:
        dispatch.__name__ = func_name
        dispatch.__qualname__ = func_name
    return dispatch
