"""Every program in ../shared/seed_programs runs unchanged (a subprocess that must exit 0)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SEED_DIR = Path(__file__).resolve().parents[2] / "shared" / "seed_programs"
PROGRAMS = sorted(p.name for p in SEED_DIR.glob("*.py")) if SEED_DIR.is_dir() else []

# What each program must print (besides exiting 0), from the README there.
EXPECTED_OUTPUT = {
    "mlp.py": "ok: output shape (64, 10)",
    "convnet.py": "ok: output shape (64, 10)",
    "cross_entropy.py": "ok: raised RuntimeError: element 0 of tensors does not require grad and does not have a "
                        "grad_fn",
    "train.py": "ok: 32x32 input raised RuntimeError: shape '[-1, 3136]' is invalid for input of size 262144",
    "containers.py": "ok: multi-task loss",
}


def test_seed_programs_found():
    if not SEED_DIR.is_dir():
        pytest.skip(f"seed programs not found at {SEED_DIR} (they live in the workspace's shared/ folder, "
                    "next to the repository)")
    assert set(EXPECTED_OUTPUT) <= set(PROGRAMS), PROGRAMS


@pytest.mark.parametrize("program", PROGRAMS or ["<none>"])
def test_seed_program_runs(program, tmp_path):
    if not SEED_DIR.is_dir():
        pytest.skip(f"seed programs not found at {SEED_DIR}")
    env = dict(os.environ)
    env.setdefault("PYTHONHASHSEED", "0")
    proc = subprocess.run([sys.executable, str(SEED_DIR / program)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"{program} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    if program in EXPECTED_OUTPUT:
        assert EXPECTED_OUTPUT[program] in proc.stdout, proc.stdout
    if program == "convnet.py":
        # The network prints as PyTorch prints it.
        assert ("ConvNet(\n"
                "  (conv1): Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
                "  (conv2): Conv2d(32, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
                "  (fc1): Linear(in_features=3136, out_features=128, bias=True)\n"
                "  (fc2): Linear(in_features=128, out_features=10, bias=True)\n"
                ")") in proc.stdout
