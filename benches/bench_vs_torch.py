"""rustgrad against PyTorch, side by side in one process.

Each workload runs for rustgrad and PyTorch alternately for several rounds with the same thread
count; the script prints each figure, the median of the per-round ratios (rustgrad's speed over
PyTorch's: higher is better) and the machine. Without PyTorch it prints rustgrad's figures alone.

    python benches/bench_vs_torch.py [--rounds 7] [--threads N] [--only NAME ...]
"""

import argparse
import os
import platform
import statistics
import time


# The memory measurement runs each library in a child process that imports only that library.
_LIBRARY = os.environ.get("BENCH_LIBRARY", "both")
rustgrad = torch = None
if _LIBRARY in ("both", "rustgrad"):
    import rustgrad
if _LIBRARY in ("both", "torch"):
    try:
        import torch
    except ImportError:  # PyTorch is optional
        torch = None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def timeit(fn, min_time=0.3, min_iters=3):
    """Seconds per call (median of batches after a warm-up)."""
    fn()
    iters, elapsed = 0, 0.0
    t0 = time.perf_counter()
    while elapsed < min_time or iters < min_iters:
        fn()
        iters += 1
        elapsed = time.perf_counter() - t0
    per_batch = max(1, iters // 5)
    samples = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(per_batch):
            fn()
        samples.append((time.perf_counter() - t) / per_batch)
    return statistics.median(samples)


# ----- workloads: each returns a zero-argument callable for a given library --------------------------


def mlp_step(lib):
    nn, F = lib.nn, lib.nn.functional
    lib.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            return self.fc2(F.relu(self.fc1(x)))

    net = Net()
    opt = lib.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x = lib.randn(64, 784)
    y = lib.randint(0, 10, (64,))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()

    return step


def convnet(lib):
    nn, F = lib.nn, lib.nn.functional

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

    return ConvNet()


def convnet_step(lib):
    lib.manual_seed(0)
    net = convnet(lib)
    opt = lib.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x = lib.randn(64, 1, 28, 28)
    y = lib.randint(0, 10, (64,))
    F = lib.nn.functional

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()

    return step


def matmul_1024(lib):
    a = lib.randn(1024, 1024)
    b = lib.randn(1024, 1024)
    return lambda: a @ b


def conv2d_fwd_bwd(lib):
    F = lib.nn.functional
    x = lib.randn(64, 32, 14, 14, requires_grad=True)
    w = lib.randn(64, 32, 3, 3, requires_grad=True)
    b = lib.randn(64, requires_grad=True)

    def run():
        out = F.conv2d(x, w, b, padding=1)
        out.sum().backward()
        x.grad = None
        w.grad = None
        b.grad = None

    return run


def add_small(lib):
    a = lib.randn(100)
    b = lib.randn(100)
    return lambda: a + b


WORKLOADS = {
    "mlp_train_step": (mlp_step, "MLP 784-128-10 training step, batch 64, SGD momentum"),
    "convnet_train_step": (convnet_step, "ConvNet training step, batch 64 x 1x28x28, SGD momentum"),
    "matmul_1024": (matmul_1024, "float32 matmul 1024x1024"),
    "conv2d_fwd_bwd": (conv2d_fwd_bwd, "conv2d fwd+bwd 64x32x14x14 -> 64, 3x3, pad 1"),
    "add_100": (add_small, "a + b on 100-element tensors"),
}


def peak_rss_kib():
    """This process's peak resident memory in KiB: VmHWM, not ru_maxrss, which Linux carries over
    from the forking parent across exec and so would report the benchmark process's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_rss_subprocess(lib_name, steps, threads):
    """Peak resident memory (KiB) of a fresh process running `steps` ConvNet training steps."""
    import subprocess
    import sys

    code = f"""
import sys
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
import bench_vs_torch as b
import {lib_name} as lib
lib.set_num_threads({threads})
step = b.convnet_step(lib)
for _ in range({steps}):
    step()
print(b.peak_rss_kib())
"""
    # The child imports only the library it measures.
    env = dict(os.environ, BENCH_LIBRARY=lib_name)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return int(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--memory-steps", type=int, default=200)
    args = parser.parse_args()

    rustgrad.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; threads used: {args.threads}")
    print(f"rustgrad {rustgrad.__version__}" + (f", PyTorch {torch.__version__}" if torch else ", PyTorch not installed"))
    print()
    header = f"{'workload':<22} {'rustgrad':>12} {'pytorch':>12} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    results = {}
    for name, (make, desc) in WORKLOADS.items():
        if args.only and name not in args.only:
            continue
        ours = make(rustgrad)
        theirs = make(torch) if torch is not None else None
        ratios, t_ours, t_theirs = [], [], []
        for _ in range(args.rounds):
            a = timeit(ours)
            t_ours.append(a)
            if theirs is not None:
                b = timeit(theirs)
                t_theirs.append(b)
                ratios.append(b / a)
        med_ours = statistics.median(t_ours)
        line = f"{name:<22} {fmt_time(med_ours):>12}"
        if ratios:
            line += f" {fmt_time(statistics.median(t_theirs)):>12} {statistics.median(ratios):>7.2f}"
        print(line)
        if name == "matmul_1024":
            flops = 2 * 1024**3 / med_ours
            peak = peak_flops(args.threads)
            share = f", {100 * flops / peak:.0f}% of the measured {peak / 1e9:.0f} GFLOP/s FMA peak" if peak else ""
            theirs_flops = 2 * 1024**3 / statistics.median(t_theirs) if t_theirs else None
            if theirs_flops:
                share += f" (PyTorch {theirs_flops / 1e9:.1f} GFLOP/s)"
            print(f"{'':<22} {flops / 1e9:.1f} GFLOP/s{share}")
        results[name] = statistics.median(ratios) if ratios else None
    if torch is not None and (not args.only or "memory" in args.only):
        ours = peak_rss_subprocess("rustgrad", args.memory_steps, args.threads)
        theirs = peak_rss_subprocess("torch", args.memory_steps, args.threads)
        print(f"{'peak_rss_convnet_200':<22} {ours / 1024:>10.0f}MB {theirs / 1024:>10.0f}MB {theirs / ours:>7.2f}")
    return results


def fmt_time(s):
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def peak_flops(threads):
    """Float32 multiply-add peak of `threads` threads, measured by rustgrad (vector FMA chains
    for 0.2 s; the clock /proc/cpuinfo names is the base clock, which turbo passes)."""
    measure = getattr(rustgrad._C, "_cpu_peak_flops", None) if rustgrad else None
    return measure(threads, 0.2) if measure else None


if __name__ == "__main__":
    main()
