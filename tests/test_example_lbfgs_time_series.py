"""examples/lbfgs_time_series.py: an LSTM fitted to a sum of sines with LBFGS(strong_wolfe) reaches
its stated loss, both as written (rustgrad) and with its import line swapped to real PyTorch."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "lbfgs_time_series.py"
SHORT_RUN = ["--steps", "2", "--target", "1e-3"]


def run(script, cwd):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(script), *SHORT_RUN], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    last = proc.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"reached: train MSE (\S+) < 1\.0e-03 after 2 steps", last)
    assert match, proc.stdout
    assert float(match.group(1)) < 1e-3
    return proc.stdout


def test_the_example_reaches_its_target_with_rustgrad(tmp_path):
    source = SCRIPT.read_text()
    assert len(re.findall(r"^import rustgrad as torch$", source, flags=re.M)) == 1
    assert "2 --target 1e-3" in source  # the docstring states the short run's target
    out = run(SCRIPT, tmp_path)
    assert len(re.findall(r"^step \d: train MSE", out, flags=re.M)) == 2


def test_the_same_script_on_pytorch_reaches_the_target(tmp_path):
    pytest.importorskip("torch")
    swapped = tmp_path / "lbfgs_time_series_torch.py"
    source = re.sub(r"^import rustgrad as torch$", "import torch", SCRIPT.read_text(), flags=re.M)
    swapped.write_text(source)
    run(swapped, tmp_path)


def test_the_script_fails_when_the_target_is_missed(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--steps", "1", "--target", "1e-12"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 1 and "FAILED: train MSE" in proc.stdout
