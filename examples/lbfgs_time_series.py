#!/usr/bin/env python3
"""Fit a time series with an LSTM and L-BFGS (strong-Wolfe line search), PyTorch style.

The series is a sum of three sines. From each window of ``--window`` past values the model (an
``nn.LSTM`` with a linear read-out) predicts the value one step ahead; the whole training set is
one batch and ``torch.optim.LBFGS(line_search_fn="strong_wolfe")`` minimizes its mean squared
error, in float64.

Target: the training MSE is below 1e-4 after 8 optimizer steps (the default ``--steps 8 --target
1e-4``; each step runs up to 20 L-BFGS iterations). The script prints the loss of every step and of
held-out windows, and exits with status 1 if the target is not reached. ``--steps 2 --target 1e-3``
gives a shorter run (what the test uses).

This file is a plain PyTorch script: the line ``import rustgrad as torch`` is the only difference,
and with ``import torch`` instead it runs on PyTorch and reaches the same target.

    python examples/lbfgs_time_series.py [--steps 8] [--target 1e-4]
"""

import argparse
import math
import sys

import rustgrad as torch


def make_series(length):
    t = torch.arange(length, dtype=torch.float64) * 0.1
    return torch.sin(t) + 0.5 * torch.sin(2.3 * t + 1.0) + 0.25 * torch.sin(5.1 * t + 2.0)


def windows(series, window):
    """Inputs (N, window, 1) of consecutive values and targets (N, 1): the value after each."""
    n = series.shape[0] - window
    x = torch.stack([series[i:i + window] for i in range(n)]).unsqueeze(-1)
    y = series[window:].unsqueeze(-1)
    return x, y


class Forecaster(torch.nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.lstm = torch.nn.LSTM(1, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps (default 8)")
    parser.add_argument("--target", type=float, default=1e-4, help="training MSE to reach (default 1e-4)")
    parser.add_argument("--window", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=12)
    args = parser.parse_args()

    torch.manual_seed(0)
    series = make_series(200)
    x, y = windows(series[:160], args.window)
    x_test, y_test = windows(series[160 - args.window:], args.window)

    model = Forecaster(args.hidden).double()
    loss_fn = torch.nn.MSELoss()
    optimizer = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=20, history_size=50,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss

    for step in range(1, args.steps + 1):
        optimizer.step(closure)
        with torch.no_grad():
            train_loss = loss_fn(model(x), y).item()
            test_loss = loss_fn(model(x_test), y_test).item()
        print(f"step {step}: train MSE {train_loss:.3e}, held-out MSE {test_loss:.3e}")

    if not math.isfinite(train_loss) or train_loss >= args.target:
        print(f"FAILED: train MSE {train_loss:.3e} is not below {args.target:.1e}")
        sys.exit(1)
    print(f"reached: train MSE {train_loss:.3e} < {args.target:.1e} after {args.steps} steps")


if __name__ == "__main__":
    main()
