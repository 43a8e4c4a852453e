"""``rustgrad.backends.cuda``: ``matmul.allow_tf32`` lets float32 matmuls (and conv2d, which uses
the same GEMM) run on TF32 tensor cores (10-bit mantissa inputs, float32 accumulation) on GPUs of
compute capability 8.0 and newer. Off by default, as in PyTorch."""

from ... import _C


class _MatmulSettings:
    _fallback = False

    @property
    def allow_tf32(self):
        if hasattr(_C, "_cuda_get_allow_tf32"):
            return _C._cuda_get_allow_tf32()
        return self._fallback

    @allow_tf32.setter
    def allow_tf32(self, value):
        value = bool(value)
        if hasattr(_C, "_cuda_set_allow_tf32"):
            _C._cuda_set_allow_tf32(value)
        else:
            type(self)._fallback = value

    # rustgrad's GEMMs always accumulate in float32: reduced-precision reductions are allowed (as
    # in PyTorch by default) but never used, so these flags change nothing.
    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True

    def __repr__(self):
        return f"<rustgrad.backends.cuda.matmul allow_tf32={self.allow_tf32}>"


matmul = _MatmulSettings()


def is_built():
    """True when this build has the CUDA backend."""
    return hasattr(_C, "_cuda_is_available")


from .sdp import (  # noqa: E402,F401
    cudnn_sdp_enabled, enable_cudnn_sdp, enable_flash_sdp, enable_math_sdp, enable_mem_efficient_sdp, flash_sdp_enabled,
    math_sdp_enabled, mem_efficient_sdp_enabled, sdp_kernel,
)
