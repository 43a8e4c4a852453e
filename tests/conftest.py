"""Suite-wide pytest hooks: a summary of the skips by reason, and CI's rule that only GPU tests skip.

With RUSTGRAD_CI_NO_SKIPS=1 (set by .ci/run, whose venv has every optional test dependency,
PyTorch included), a test skipped for any reason other than the lack of a usable CUDA device fails
instead: a parity test that silently skips is a parity test that does not run.
"""

import collections
import os

import pytest

# The reason every GPU-only test gives when it skips (test_cuda.py, test_rnn.py, test_attention.py).
GPU_SKIP_REASON = "no usable CUDA device"
NO_SKIPS = os.environ.get("RUSTGRAD_CI_NO_SKIPS") == "1"


def _skip_reason(report):
    """The reason a skipped report gives (pytest stores it as "Skipped: <reason>")."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason


def _forbid_non_gpu_skip(report):
    if NO_SKIPS and report.skipped and not hasattr(report, "wasxfail"):
        reason = _skip_reason(report)
        if not reason.startswith(GPU_SKIP_REASON):
            report.outcome = "failed"
            report.longrepr = (f"skipped for a reason other than a missing GPU, which RUSTGRAD_CI_NO_SKIPS=1 "
                               f"forbids: {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _forbid_non_gpu_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    # A module that skips as a whole (a module-level importorskip) is skipped at collection.
    outcome = yield
    _forbid_non_gpu_skip(outcome.get_result())


def pytest_terminal_summary(terminalreporter):
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    # One line per reason, its details (after the first colon: a path, a driver message) cut off.
    counts = collections.Counter(_skip_reason(r).split(":")[0] for r in skipped)
    terminalreporter.write_sep("-", f"{len(skipped)} skipped, by reason")
    for reason, count in counts.most_common():
        terminalreporter.write_line(f"{count:6d}  {reason}")
