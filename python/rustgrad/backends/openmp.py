"""``rustgrad.backends.openmp``: rustgrad parallelises CPU kernels with its own thread pool, not OpenMP
(``rustgrad.set_num_threads`` sizes it)."""


def is_available():
    """False: rustgrad is not built with OpenMP."""
    return False
