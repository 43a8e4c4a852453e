"""``rustgrad.backends.cudnn``: kept for scripts that set these flags. rustgrad uses no cuDNN: its
convolutions run on its own GEMM and follow ``rustgrad.backends.cuda.matmul.allow_tf32``."""

enabled = True
benchmark = False
deterministic = False
allow_tf32 = False


def is_available():
    return False
