"""The main job (examples/train_digits.py) trains the seed ConvNet on real digits, in CI with few epochs."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "train_digits.py"

EPOCHS = 3
# With 3 epochs (cosine-decayed lr) the ConvNet reaches 96-98% on the 359 held-out digits over seeds
# (PyTorch, same recipe: 98.1%); the floor leaves room for seed and float differences and still
# fails for a model that does not learn.
ACCURACY_FLOOR = 90.0


@pytest.mark.slow
def test_train_digits_reaches_accuracy_and_writes_outputs(tmp_path):
    for module in ("sklearn", "matplotlib", "tqdm"):
        pytest.importorskip(module, reason=f"the main job needs {module} (pip install '.[examples]')")
    out = tmp_path / "run"
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--epochs", str(EPOCHS), "--out", str(out)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    lines = proc.stdout.strip().splitlines()
    # One line per epoch with the train loss and test accuracy.
    epoch_lines = [line for line in lines if re.match(r"epoch \d+/\d+: train loss [0-9.]+, test accuracy", line)]
    assert len(epoch_lines) == EPOCHS, proc.stdout
    losses = [float(re.search(r"train loss ([0-9.]+)", line).group(1)) for line in epoch_lines]
    assert losses[-1] < losses[0], losses
    match = re.fullmatch(r"test accuracy: (\d+\.\d)%", lines[-1])
    assert match, f"last line is {lines[-1]!r}"
    accuracy = float(match.group(1))
    assert accuracy >= ACCURACY_FLOOR, proc.stdout
    checkpoint = out / "convnet.safetensors"
    plot = out / "training.png"
    assert checkpoint.is_file() and checkpoint.stat().st_size > 1_000_000  # ~420k float32 parameters
    assert plot.is_file() and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The checkpoint loads back into the ConvNet.
    import rustgrad

    state = rustgrad.load(str(checkpoint))
    assert sorted(state) == ["conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight", "fc1.bias", "fc1.weight",
                             "fc2.bias", "fc2.weight"]
    assert tuple(state["fc1.weight"].shape) == (128, 3136)
    # The tqdm bars (stderr) show the running loss.
    assert "loss=" in proc.stderr


def test_train_digits_help_lists_the_options():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for option in ("--epochs", "--batch-size", "--lr", "--device", "--out", "--data"):
        assert option in proc.stdout
