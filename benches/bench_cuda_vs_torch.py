"""rustgrad's CUDA kernels against PyTorch (cuBLAS / cuDNN) in one process, on one GPU.

    python benches/bench_cuda_vs_torch.py [--quick] [--json PATH]

* fp32 matmul (n x n @ n x n) at n = 1024, 2048, 4096, 8192, TF32 off on both sides (as PyTorch's
  default): GFLOP/s and our share of PyTorch's throughput (goal: >= 0.7 at 4096); then TF32 on;
* conv2d forward + backward (input and weight grads) at the seed ConvNet's two conv shapes;
* the seed ConvNet's training step (SGD with momentum) at batch 256: steps per second (goal: >= 0.8
  of PyTorch's).

A benchmark, not a test: it prints numbers and ratios. Each section catches its own errors and
the rest still run. Times are medians of several synchronised repetitions after a warm-up.
"""

import argparse
import json
import statistics
import sys
import time
import traceback

import numpy as np

import rustgrad as rg
import rustgrad.nn as nn
import rustgrad.nn.functional as F

try:
    import torch
    import torch.nn.functional as TF
except Exception as e:  # noqa: BLE001
    print(f"torch not importable ({e}); only rustgrad's numbers are printed")
    torch = None

RESULTS = {}
JSON_PATH = None


def save():
    """Writes the results so far (after every section: a run cut short keeps what it measured)."""
    if JSON_PATH:
        with open(JSON_PATH, "w") as f:
            json.dump(RESULTS, f, indent=1)


def timeit(fn, sync, reps, warmup=2, budget=20.0):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    t_end = time.perf_counter() + budget
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() > t_end:
            break
    return statistics.median(times)


def rg_sync():
    rg.cuda.synchronize()


def torch_sync():
    torch.cuda.synchronize()


def have_torch_cuda():
    return torch is not None and torch.cuda.is_available()


def section(name):
    def deco(fn):
        def wrapped(*a, **k):
            print(f"\n== {name}", flush=True)
            try:
                fn(*a, **k)
            except Exception:  # noqa: BLE001 - report and go on to the next section
                traceback.print_exc(file=sys.stdout)
                RESULTS.setdefault("errors", []).append(name)
            save()
        return wrapped
    return deco


def ratio(ours, theirs):
    return f"{ours / theirs:5.2f}" if theirs else "  n/a"


@section("fp32 matmul, n x n @ n x n")
def bench_matmul(sizes, tf32):
    rg.backends.cuda.matmul.allow_tf32 = tf32
    if have_torch_cuda():
        torch.backends.cuda.matmul.allow_tf32 = tf32
    tag = "tf32" if tf32 else "fp32"
    print(f"{'n':>6} {'rustgrad GFLOP/s':>17} {'torch GFLOP/s':>14} {'ratio':>6}   ({tag})")
    for n in sizes:
        flops = 2.0 * n ** 3
        reps = 20 if n <= 2048 else (8 if n <= 4096 else 4)
        a = rg.randn(n, n, device="cuda")
        b = rg.randn(n, n, device="cuda")
        ours = flops / timeit(lambda: a @ b, rg_sync, reps) / 1e9
        theirs = None
        if have_torch_cuda():
            ta = torch.randn(n, n, device="cuda")
            tb = torch.randn(n, n, device="cuda")
            theirs = flops / timeit(lambda: ta @ tb, torch_sync, reps) / 1e9
            del ta, tb
        # Correctness against torch on the same inputs (a cheap guard for the numbers above).
        if have_torch_cuda() and n <= 2048:
            ref = torch.tensor(a.cpu().numpy(), device="cuda") @ torch.tensor(b.cpu().numpy(), device="cuda")
            err = np.abs((a @ b).cpu().numpy() - ref.cpu().numpy()).max()
            print(f"       max |ours - torch| = {err:.2e}")
        print(f"{n:>6} {ours:17.1f} {theirs or 0:14.1f} {ratio(ours, theirs):>6}", flush=True)
        RESULTS[f"matmul_{tag}_{n}"] = {"rustgrad_gflops": ours, "torch_gflops": theirs,
                                        "ratio": ours / theirs if theirs else None}
        del a, b
    rg.backends.cuda.matmul.allow_tf32 = False
    if have_torch_cuda():
        torch.backends.cuda.matmul.allow_tf32 = False


@section("conv2d forward + backward (input, weight and bias grads) at the seed ConvNet's shapes")
def bench_conv(batch):
    shapes = [("conv1", (batch, 1, 28, 28), (32, 1, 3, 3)), ("conv2", (batch, 32, 14, 14), (64, 32, 3, 3))]
    print(f"batch {batch}\n{'layer':>6} {'rustgrad ms':>12} {'torch ms':>9} {'speed ratio':>12}")
    for name, xs, ws in shapes:
        rng = np.random.default_rng(0)
        xn = rng.standard_normal(xs).astype(np.float32)
        wn = rng.standard_normal(ws).astype(np.float32)
        bn = rng.standard_normal(ws[0]).astype(np.float32)
        x = rg.tensor(xn, device="cuda", requires_grad=True)
        w = rg.tensor(wn, device="cuda", requires_grad=True)
        b = rg.tensor(bn, device="cuda", requires_grad=True)

        def step_ours():
            y = F.conv2d(x, w, b, padding=1)
            y.backward(rg.ones_like(y))
        ours = timeit(step_ours, rg_sync, 10)
        theirs = None
        if have_torch_cuda():
            torch.backends.cudnn.allow_tf32 = False
            tx = torch.tensor(xn, device="cuda", requires_grad=True)
            tw = torch.tensor(wn, device="cuda", requires_grad=True)
            tb = torch.tensor(bn, device="cuda", requires_grad=True)

            def step_torch():
                y = TF.conv2d(tx, tw, tb, padding=1)
                y.backward(torch.ones_like(y))
            theirs = timeit(step_torch, torch_sync, 10)
        speed = ratio(theirs, ours) if theirs else "  n/a"
        print(f"{name:>6} {ours * 1e3:12.2f} {(theirs or 0) * 1e3:9.2f} {speed:>12}", flush=True)
        RESULTS[f"conv2d_fwd_bwd_{name}"] = {"rustgrad_ms": ours * 1e3, "torch_ms": theirs and theirs * 1e3,
                                             "speed_ratio": theirs / ours if theirs else None}


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(-1, 64 * 7 * 7)
        return self.fc2(F.relu(self.fc1(x)))


@section("seed ConvNet training step (SGD, momentum 0.9)")
def bench_convnet(batch, steps):
    rng = np.random.default_rng(0)
    xn = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    yn = rng.integers(0, 10, size=batch)
    net = ConvNet().cuda()
    opt = rg.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = rg.tensor(xn, device="cuda"), rg.tensor(yn, device="cuda")

    def step_ours():
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    ours = timeit(step_ours, rg_sync, steps, warmup=3)
    theirs = None
    if have_torch_cuda():
        tnet = torch.nn.Sequential(
            torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
            torch.nn.Linear(3136, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)).cuda()
        topt = torch.optim.SGD(tnet.parameters(), lr=0.01, momentum=0.9)
        tx, ty = torch.tensor(xn, device="cuda"), torch.tensor(yn, device="cuda")

        def step_torch():
            topt.zero_grad()
            TF.cross_entropy(tnet(tx), ty).backward()
            topt.step()
        theirs = timeit(step_torch, torch_sync, steps, warmup=3)
    print(f"batch {batch}: rustgrad {1 / ours:8.1f} steps/s   torch {1 / theirs if theirs else 0:8.1f} steps/s   "
          f"ratio {ratio(1 / ours, 1 / theirs if theirs else 0)}", flush=True)
    RESULTS[f"convnet_step_b{batch}"] = {"rustgrad_steps_per_s": 1 / ours,
                                         "torch_steps_per_s": 1 / theirs if theirs else None,
                                         "ratio": theirs / ours if theirs else None}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes only (a smoke run)")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    global JSON_PATH
    JSON_PATH = args.json
    if not rg.cuda.is_available():
        print("CUDA not usable:", rg.cuda._unavailable_reason())
        return 1
    RESULTS["device"] = rg.cuda.get_device_name(0)
    print("device:", RESULTS["device"], "| torch:", torch.__version__ if torch else None)
    if have_torch_cuda():
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    sizes = [256, 512] if args.quick else [1024, 2048, 4096, 8192]
    bench_matmul(sizes, tf32=False)
    bench_convnet(32 if args.quick else 256, 5 if args.quick else 20)
    bench_conv(32 if args.quick else 256)
    bench_matmul(sizes[:3], tf32=True)
    save()
    return 1 if RESULTS.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
