"""``rustgrad.backends.cudnn``: kept for scripts that set these flags. rustgrad uses no cuDNN: its
convolutions run on its own GEMM and follow ``rustgrad.backends.cuda.matmul.allow_tf32``, so
``enabled``, ``benchmark``, ``deterministic`` and ``allow_tf32`` here change nothing (see
``rustgrad.use_deterministic_algorithms`` for what is deterministic)."""

enabled = True
benchmark = False
deterministic = False
allow_tf32 = False


def is_available():
    """False: rustgrad is not built with cuDNN."""
    return False


def version():
    """None, as PyTorch answers where cuDNN is not available."""
    return None
