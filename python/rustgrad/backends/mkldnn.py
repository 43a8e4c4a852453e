"""``rustgrad.backends.mkldnn``: rustgrad's CPU kernels are its own; it does not use oneDNN (MKL-DNN)."""


def is_available():
    """False: rustgrad is not built with oneDNN."""
    return False
