"""``rustgrad.backends.cpu``: the CPU's vector instruction level, as ``torch.backends.cpu``."""

import functools
import platform


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


@functools.lru_cache(maxsize=None)
def get_cpu_capability():
    """The widest vector instruction set this CPU offers of those PyTorch names: "AVX512" (with the
    BW, DQ and VL extensions), "AVX2" (with FMA), else "DEFAULT". rustgrad's kernels detect and use
    AVX-512 at run time where they have a path for it."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return "DEFAULT"
    flags = _cpu_flags()
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        return "AVX512"
    if {"avx2", "fma"} <= flags:
        return "AVX2"
    return "DEFAULT"
