"""Anomaly mode: NaN produced in backward raises PyTorch's error, and the warning before it shows
the forward line that made the failing node."""

import warnings

import pytest

import rustgrad
from rustgrad import autograd


def _sqrt_of_negative(lib):
    x = lib.tensor([-1.0, 4.0], dtype=lib.float64, requires_grad=True)
    y = x.sqrt()  # FORWARD-LINE
    return x, y.sum()


def _run_backward(loss):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RuntimeError) as err:
            loss.backward()
    return str(err.value), [str(w.message) for w in caught]


def test_nan_in_backward_raises_with_forward_traceback():
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        mode = autograd.detect_anomaly()
    with mode:
        assert autograd.is_anomaly_enabled()
        _, loss = _sqrt_of_negative(rustgrad)
        message, warned = _run_backward(loss)
    assert not autograd.is_anomaly_enabled()
    assert message == "Function 'SqrtBackward0' returned nan values in its 0th output."
    trace = [w for w in warned if w.startswith("Error detected in SqrtBackward0.")]
    assert len(trace) == 1
    assert "Traceback of forward call that caused the error" in trace[0]
    assert "y = x.sqrt()  # FORWARD-LINE" in trace[0]


def test_without_anomaly_mode_nan_flows_silently():
    x, loss = _sqrt_of_negative(rustgrad)
    loss.backward()
    assert x.grad[0].isnan().item() and x.grad[1].item() == pytest.approx(0.25)


def test_set_detect_anomaly_as_function_and_context():
    autograd.set_detect_anomaly(True)
    try:
        assert autograd.is_anomaly_enabled()
        _, loss = _sqrt_of_negative(rustgrad)
        message, _ = _run_backward(loss)
        assert "returned nan values" in message
    finally:
        autograd.set_detect_anomaly(False)
    assert not autograd.is_anomaly_enabled()
    with autograd.set_detect_anomaly(True, check_nan=False):
        assert autograd.is_anomaly_enabled() and not autograd.is_anomaly_check_nan_enabled()
        x, loss = _sqrt_of_negative(rustgrad)
        loss.backward()  # NaN not checked
        assert x.grad[0].isnan().item()
    assert not autograd.is_anomaly_enabled() and autograd.is_anomaly_check_nan_enabled()


def test_detect_anomaly_as_decorator():
    with pytest.warns(UserWarning):
        @autograd.detect_anomaly()
        def step():
            _, loss = _sqrt_of_negative(rustgrad)
            return _run_backward(loss)[0]
    assert "SqrtBackward0" in step()
    assert not autograd.is_anomaly_enabled()


def test_custom_function_backward_nan_names_the_function():
    class MakesNan(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * float("nan")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with autograd.detect_anomaly():
            x = rustgrad.ones(3, requires_grad=True)
            message, warned = _run_backward(MakesNan.apply(x).sum())
    assert message == "Function 'MakesNanBackward' returned nan values in its 0th output."
    assert any("MakesNan.apply(x)" in w for w in warned)


def test_error_matches_torch():
    torch = pytest.importorskip("torch")
    results = []
    for lib in (rustgrad, torch):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with lib.autograd.detect_anomaly():
                _, loss = _sqrt_of_negative(lib)
                results.append(_run_backward(loss)[0])
    assert results[0] == results[1]


def test_nodes_made_outside_anomaly_mode_have_no_trace():
    # Recorded before the mode was on: the error still comes, with no traceback warning.
    _, loss = _sqrt_of_negative(rustgrad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with autograd.detect_anomaly():
            message, warned = _run_backward(loss)
    assert "returned nan values" in message
    assert not any(w.startswith("Error detected in") for w in warned)
