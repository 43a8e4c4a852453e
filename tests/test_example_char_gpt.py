"""examples/char_gpt.py: a character-level GPT learns the Python docs' topic text and samples from it
with top-k and multinomial; the same file runs under PyTorch with only its import line changed."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "char_gpt.py"
IMPORT_LINE = "import rustgrad as torch\n"


def run(script, *args, cwd):
    proc = subprocess.run([sys.executable, str(script), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


def final_loss(stdout):
    match = re.search(r"^val loss (\d+\.\d+) \(target < (\d+\.\d+) after (\d+) steps\)$", stdout, re.M)
    assert match, stdout
    return float(match.group(1)), float(match.group(2))


def test_char_gpt_learns_and_samples(tmp_path):
    out = run(SCRIPT, "--steps", "150", "--sample", "80", cwd=tmp_path)
    loss, target = final_loss(out)
    assert target == 2.6 and loss < target, out
    lines = out.splitlines()
    sample_start = next(i for i, line in enumerate(lines) if line.startswith("step 150:")) + 1
    sample = "\n".join(lines[sample_start:-1])
    assert len(sample) >= 60, out  # 80 sampled characters (some may be newlines)


def test_the_import_line_is_the_only_difference_from_pytorch(tmp_path):
    pytest.importorskip("torch")
    source = SCRIPT.read_text()
    docstring = ast.get_docstring(ast.parse(source), clean=False)
    code = source.replace(docstring, "")
    assert code.count(IMPORT_LINE) == 1 and "rustgrad" not in code.replace(IMPORT_LINE, "")
    torch_script = tmp_path / "char_gpt_torch.py"
    torch_script.write_text(source.replace(IMPORT_LINE, "import torch\n"))
    loss, target = final_loss(run(torch_script, "--steps", "30", "--sample", "20", cwd=tmp_path))
    assert target == 3.6 and loss < target
