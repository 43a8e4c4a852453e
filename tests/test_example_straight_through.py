"""examples/straight_through.py: a custom Function (the straight-through estimator) trains a network
with binary hidden weights, and the script writes its backward graph as DOT."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "straight_through.py"


def test_straight_through_example_learns_and_writes_the_graph(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--epochs", "20", "--out", str(out)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    last = proc.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"test accuracy: (\d+\.\d)%", last)
    assert match, proc.stdout
    # Two spirals are not linearly separable; a network whose binary layer did not learn stays
    # far below this (20 epochs reach 97-100%).
    assert float(match.group(1)) >= 90.0, proc.stdout
    dot = (out / "graph.dot").read_text()
    assert dot.startswith("digraph {") and dot.rstrip().endswith("}")
    assert '"SignSTEBackward"' in dot
    assert '"2.weight\\n(128, 128)"' in dot
    assert "NllLossBackward0" in dot
