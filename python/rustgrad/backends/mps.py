"""``rustgrad.backends.mps``: Apple's Metal backend, which rustgrad does not have."""


def is_available():
    """False: rustgrad has no MPS (Metal) backend."""
    return False


def is_built():
    """False: rustgrad has no MPS (Metal) backend."""
    return False
