#!/usr/bin/env python3
"""A custom autograd Function: a network whose hidden layer has binary (+1/-1) weights.

``sign`` has a zero gradient almost everywhere, so a network built on it cannot learn by plain
backpropagation. The straight-through estimator (Bengio et al., 2013) pretends, in backward, that
``sign`` was the identity wherever its input lies in [-1, 1]: the real-valued "latent" weights get a
useful gradient and the forward pass still uses only binary ones.

The script trains such a network on two interleaved spirals, prints the loss and accuracy, and
writes the backward graph of one step as Graphviz DOT (render it with ``dot -Tpng graph.dot``).

    python examples/straight_through.py --epochs 60 --out runs/straight_through
"""

import argparse
import math
import os

import numpy as np

import rustgrad
import rustgrad.nn as nn
import rustgrad.nn.functional as F
from rustgrad.autograd import Function
from rustgrad.autograd.graph import to_dot


class SignSTE(Function):
    """sign(x) forward; the incoming gradient passed straight through where |x| <= 1."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sign()

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * (x.abs() <= 1).to(grad_output.dtype)


class BinaryLinear(nn.Linear):
    """A linear layer whose weights are binarized in every forward pass (the bias stays real)."""

    def forward(self, x):
        scale = self.weight.abs().mean().detach()  # keeps the layer's output on the latent scale
        return F.linear(x, SignSTE.apply(self.weight) * scale, self.bias)


def spirals(n, noise, rng):
    """Two interleaved spirals in the plane: points (n, 2) float32 and labels (n,) int64."""
    t = np.sqrt(rng.uniform(0.05, 1.0, n)) * 3 * math.pi
    label = rng.integers(0, 2, n)
    angle = t + math.pi * label
    points = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) / (3 * math.pi)
    points += rng.normal(0, noise, points.shape)
    return points.astype(np.float32), label.astype(np.int64)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--out", default="runs/straight_through")
    args = parser.parse_args()

    rustgrad.manual_seed(0)
    rng = np.random.default_rng(0)
    x_train, y_train = (rustgrad.from_numpy(a) for a in spirals(2000, 0.02, rng))
    x_test, y_test = (rustgrad.from_numpy(a) for a in spirals(500, 0.02, rng))

    model = nn.Sequential(
        nn.Linear(2, args.hidden), nn.Tanh(),
        BinaryLinear(args.hidden, args.hidden), nn.Tanh(),
        nn.Linear(args.hidden, 2),
    )
    optimizer = rustgrad.optim.Adam(model.parameters(), lr=0.01)

    for epoch in range(1, args.epochs + 1):
        model.train()
        order = rustgrad.randperm(len(x_train))
        total = 0.0
        for start in range(0, len(order), 100):
            batch = order[start:start + 100]
            loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        if epoch % 10 == 0 or epoch == args.epochs:
            with rustgrad.no_grad():
                accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
            print(f"epoch {epoch:3d}  loss {total / len(x_train):.4f}  test accuracy {100 * accuracy:.1f}%")

    # Every hidden weight the trained model uses is +1 or -1 (times one scale per layer).
    binary = model[2]
    used = SignSTE.apply(binary.weight.detach())
    assert set(used.unique().tolist()) <= {-1.0, 1.0}

    os.makedirs(args.out, exist_ok=True)
    loss = F.cross_entropy(model(x_test[:8]), y_test[:8])
    dot = to_dot(loss, params=dict(model.named_parameters()))
    path = os.path.join(args.out, "graph.dot")
    with open(path + ".tmp", "w") as f:
        f.write(dot)
    os.replace(path + ".tmp", path)
    print(f"backward graph of one step: {path}")
    print(f"test accuracy: {100 * accuracy:.1f}%")


if __name__ == "__main__":
    main()
