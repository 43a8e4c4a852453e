#!/usr/bin/env python3
"""The main job: train the user's ConvNet on real handwritten digits with rustgrad.

By default the data are the 1,797 8x8 digit images that scikit-learn bundles, scaled to [0, 1]
and upscaled to 28x28 with rustgrad's bilinear ``F.interpolate`` (the ConvNet expects 28x28, as
the user's programs do), split 80/20 with a fixed seed. ``--data PATH`` trains on MNIST instead
(an .npz with x_train, y_train, x_test, y_test, as Keras saves it).

SGD with momentum, the learning rate decayed by a cosine schedule. Each epoch shows a tqdm bar with
the running loss and prints the train loss and test accuracy; the last line printed is
``test accuracy: NN.N%``. The checkpoint (safetensors) and a PNG plot of loss and accuracy per
epoch go into ``--out``.

    pip install '.[examples]' && python examples/train_digits.py
"""

import argparse
import os
import sys
import time

import numpy as np

import rustgrad
import rustgrad.nn as nn
import rustgrad.nn.functional as F
import rustgrad.optim as optim
from rustgrad.utils.data import DataLoader, TensorDataset


class ConvNet(nn.Module):
    """The user's network (seed_programs/train.py), unchanged: 1x28x28 in, 10 logits out."""

    def __init__(self):
        super(ConvNet, self).__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(x, 2)
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = x.view(-1, 64 * 7 * 7)
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return x


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Train the seed ConvNet on handwritten digits with rustgrad.")
    p.add_argument("--epochs", type=int, default=10, help="passes over the training set (default: 10)")
    p.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default: 32)")
    p.add_argument("--lr", type=float, default=0.02,
                   help="initial SGD learning rate, decayed by a cosine schedule (default: 0.02)")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default: 0.9)")
    p.add_argument("--device", default="cpu", help="'cpu' or 'cuda' (default: cpu)")
    p.add_argument("--out", default="runs/digits", help="folder for the checkpoint and the plot (default: runs/digits)")
    p.add_argument("--data", default=None, metavar="PATH",
                   help="an MNIST .npz (x_train, y_train, x_test, y_test, as Keras saves it): train on MNIST instead")
    p.add_argument("--seed", type=int, default=0, help="seed for the split, the initialisation and the shuffling")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    return p.parse_args(argv)


def to_28x28(images):
    """(N, H, W) floats in [0, 1] -> (N, 1, 28, 28) rustgrad tensor (bilinear when H, W != 28)."""
    x = rustgrad.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)
    if tuple(x.shape[2:]) != (28, 28):
        with rustgrad.no_grad():
            x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
    return x.contiguous()


def load_sklearn_digits(seed):
    """scikit-learn's 1,797 digits, upscaled to 28x28, split 80/20 by a seeded permutation."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0  # pixel values are 0..16
    x = to_28x28(images)
    y = rustgrad.from_numpy(digits.target.astype(np.int64))
    n = x.shape[0]
    perm = rustgrad.randperm(n, generator=rustgrad.Generator().manual_seed(seed))
    n_train = int(round(0.8 * n))
    train_idx, test_idx = perm[:n_train], perm[n_train:]
    return (x[train_idx], y[train_idx]), (x[test_idx], y[test_idx])


def load_mnist_npz(path):
    """MNIST from a Keras-style .npz (uint8 images 0..255, integer labels)."""
    with np.load(path) as f:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f]
        if missing:
            raise SystemExit(f"{path}: missing key(s) {', '.join(missing)} (expected x_train, y_train, x_test, y_test)")
        xtr, ytr, xte, yte = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    scale = 255.0 if xtr.max() > 1.0 else 1.0
    xtr = to_28x28(xtr.reshape(len(xtr), *xtr.shape[-2:]).astype(np.float32) / scale)
    xte = to_28x28(xte.reshape(len(xte), *xte.shape[-2:]).astype(np.float32) / scale)
    ytr = rustgrad.from_numpy(ytr.reshape(-1).astype(np.int64))
    yte = rustgrad.from_numpy(yte.reshape(-1).astype(np.int64))
    return (xtr, ytr), (xte, yte)


def standardise(train_x, test_x):
    """Zero mean, unit variance using the training set's statistics."""
    mean = train_x.mean().item()
    std = train_x.std().item()
    return (train_x - mean) / std, (test_x - mean) / std, mean, std


def evaluate(model, loader, device):
    """Accuracy (%) of ``model`` over ``loader``."""
    model.eval()
    correct = total = 0
    with rustgrad.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            pred = model(x).argmax(dim=1)
            correct += int((pred == y).sum().item())
            total += y.shape[0]
    model.train()
    return 100.0 * correct / total


def save_plot(path, losses, accuracies):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = list(range(1, len(losses) + 1))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, losses, marker="o")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("train loss")
    ax1.set_title("training loss")
    ax1.grid(True, alpha=0.3)
    ax2.plot(epochs, accuracies, marker="o", color="tab:green")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("test accuracy (%)")
    ax2.set_title("test accuracy")
    ax2.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    from tqdm import tqdm

    device = rustgrad.device(args.device)
    if device.type == "cuda" and not rustgrad.cuda.is_available():
        raise SystemExit(f"--device {args.device}: {rustgrad.cuda._unavailable_reason()}")
    os.makedirs(args.out, exist_ok=True)
    rustgrad.manual_seed(args.seed)

    if args.data:
        (train_x, train_y), (test_x, test_y) = load_mnist_npz(args.data)
        source = f"MNIST ({args.data})"
    else:
        (train_x, train_y), (test_x, test_y) = load_sklearn_digits(args.seed)
        source = "scikit-learn digits (8x8 upscaled to 28x28)"
    train_x, test_x, mean, std = standardise(train_x, test_x)
    print(f"data: {source}: {train_x.shape[0]} train, {test_x.shape[0]} test images")

    train_loader = DataLoader(TensorDataset(train_x, train_y), batch_size=args.batch_size, shuffle=True,
                              generator=rustgrad.Generator().manual_seed(args.seed))
    test_loader = DataLoader(TensorDataset(test_x, test_y), batch_size=256)

    model = ConvNet().to(device)
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    # Cosine decay to zero over the run: the last epochs settle instead of bouncing.
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    criterion = nn.CrossEntropyLoss()

    losses, accuracies = [], []
    start = time.time()
    for epoch in range(1, args.epochs + 1):
        model.train()
        running, seen = 0.0, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{args.epochs}", unit="batch", leave=False,
                   disable=args.no_progress, file=sys.stderr)
        for x, y in bar:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            n = y.shape[0]
            running += loss.item() * n
            seen += n
            bar.set_postfix(loss=f"{running / seen:.4f}")
        bar.close()
        scheduler.step()
        train_loss = running / seen
        accuracy = evaluate(model, test_loader, device)
        losses.append(train_loss)
        accuracies.append(accuracy)
        print(f"epoch {epoch}/{args.epochs}: train loss {train_loss:.4f}, test accuracy {accuracy:.1f}% "
              f"({time.time() - start:.1f}s)", flush=True)

    checkpoint = os.path.join(args.out, "convnet.safetensors")
    state = {k: v.cpu() for k, v in model.state_dict().items()}
    rustgrad.save(state, checkpoint)
    plot = os.path.join(args.out, "training.png")
    save_plot(plot, losses, accuracies)
    print(f"saved {checkpoint} and {plot} (input normalisation: mean {mean:.4f}, std {std:.4f})")
    print(f"test accuracy: {accuracies[-1]:.1f}%")
    return accuracies[-1]


if __name__ == "__main__":
    main()
