"""Activation checkpointing: how much less memory one training step takes with
``rustgrad.utils.checkpoint`` (one checkpoint per block) than without, and at what time cost.

Models (16 blocks each):
  mlp          block = x + Dropout(GELU(LayerNorm(Linear(x)))), width 1024, batch 2048
  transformer  nn.TransformerEncoderLayer(d_model 256, 4 heads, feed-forward 1024, dropout 0.1,
               batch_first), input 16 x 128 x 256

Each (model, checkpointing or not) case runs in its own fresh process, which:
  1. builds the model and input from a fixed seed and runs one warm-up training step (forward,
     loss, backward), so that everything allocated once (parameters, the thread pool, the
     allocator's own structures, lazily built state) exists before measuring;
  2. drops the gradients (``zero_grad(set_to_none=True)``), collects garbage and reads VmRSS from
     /proc/self/status: the baseline;
  3. resets the process's resident-memory high-water mark (VmHWM) by writing "5" to
     /proc/self/clear_refs (Linux >= 4.0), runs one measured training step and reads VmHWM: the
     peak. Where clear_refs is not writable, a thread samples VmRSS every millisecond during the
     step instead (the big computations release the GIL), and the peak is the largest sample;
  4. reports peak - baseline (the growth: the activations kept for backward, the recomputed ones,
     the gradients, which are re-created in the measured step in both cases, and temporaries), the
     step's time, and a SHA-256 of the loss and of every gradient.
The parent prints both cases side by side, the reduction of the growth (1 - with/without) and
checks that the gradient digests are equal: checkpointing must not change a bit of the gradients
(dropout included: the recomputation replays the forward's random state).

The children run with RUSTGRAD_HOST_CACHE_MB=0 and MALLOC_MMAP_THRESHOLD_=131072, so that VmRSS
follows the memory the tensors hold: rustgrad's host cache (storage/host_cache.rs, up to 512 MB
by default) would otherwise keep the blocks freed by the warm-up step for the measured step to
reuse, and so would glibc's heap with its default (dynamic) mmap threshold; with the threshold
fixed, every block of 128 KiB or more gets its own mapping, unmapped on free. Both would hide the
activations from the growth (their baseline includes the warm-up's freed blocks).
``--allocator-default`` keeps both defaults, to show that.

    python benches/bench_checkpoint.py [--only mlp|transformer] [--threads N] [--repeat R] [--allocator-default]
"""

import argparse
import gc
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time

CASES = ("mlp", "transformer")
BLOCKS = 16


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak():
    """Resets VmHWM to the current VmRSS; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return status_kib("VmHWM") <= status_kib("VmRSS") + 64


class RssSampler(threading.Thread):
    """Largest VmRSS seen while running (the fallback when VmHWM cannot be reset)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak = status_kib("VmRSS")
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, status_kib("VmRSS"))
            time.sleep(0.001)

    def finish(self):
        self.stop.set()
        self.join()
        self.peak = max(self.peak, status_kib("VmRSS"))
        return self.peak


# ----- the models ------------------------------------------------------------------------------------

def build(case):
    """(module, input, run(x, use_checkpoint) -> output)."""
    import rustgrad as rg
    from rustgrad import nn
    from rustgrad.utils.checkpoint import checkpoint

    rg.manual_seed(0)
    if case == "mlp":
        width, batch = 1024, 2048

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(width, width)
                self.norm = nn.LayerNorm(width)
                self.drop = nn.Dropout(0.1)

            def forward(self, x):
                return x + self.drop(nn.functional.gelu(self.norm(self.fc(x))))

        blocks = nn.ModuleList([Block() for _ in range(BLOCKS)])
        x = rg.randn(batch, width)
    elif case == "transformer":
        blocks = nn.ModuleList([
            nn.TransformerEncoderLayer(256, 4, dim_feedforward=1024, dropout=0.1, batch_first=True)
            for _ in range(BLOCKS)
        ])
        x = rg.randn(16, 128, 256)
    else:
        raise ValueError(case)

    def run(h, use_checkpoint):
        for block in blocks:
            h = checkpoint(block, h, use_reentrant=False) if use_checkpoint else block(h)
        return h

    return blocks, x, run


def child(case, use_checkpoint, threads):
    import rustgrad as rg

    if threads:
        rg.set_num_threads(threads)
    model, x, run = build(case)

    def step():
        rg.manual_seed(1234)  # the same dropout masks in every step and in both cases
        loss = run(x, use_checkpoint).pow(2).mean()
        loss.backward()
        return loss.item()

    step()  # warm-up
    model.zero_grad(set_to_none=True)
    gc.collect()
    baseline = status_kib("VmRSS")
    exact = reset_peak()
    sampler = None
    if not exact:
        sampler = RssSampler()
        sampler.start()
    t0 = time.perf_counter()
    loss = step()
    seconds = time.perf_counter() - t0
    peak = status_kib("VmHWM") if exact else sampler.finish()

    digest = hashlib.sha256(repr(loss).encode())
    grad_bytes = 0
    for p in model.parameters():
        g = p.grad.numpy()
        grad_bytes += g.nbytes
        digest.update(g.tobytes())
    print(json.dumps({
        "case": case, "checkpoint": use_checkpoint, "baseline_kib": baseline, "peak_kib": peak,
        "growth_kib": peak - baseline, "seconds": seconds, "grad_digest": digest.hexdigest(),
        "grad_mib": grad_bytes / 2**20, "peak_method": "VmHWM" if exact else "sampled VmRSS",
    }))


def run_child(case, use_checkpoint, threads, allocator_default):
    env = dict(os.environ)
    if not allocator_default:
        env["MALLOC_MMAP_THRESHOLD_"] = "131072"
        env["RUSTGRAD_HOST_CACHE_MB"] = "0"
    cmd = [sys.executable, os.path.abspath(__file__), "--child", case, str(int(use_checkpoint))]
    if threads:
        cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"child {case} checkpoint={use_checkpoint} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=CASES, action="append")
    parser.add_argument("--threads", type=int, default=0, help="rustgrad threads (default: its own)")
    parser.add_argument("--repeat", type=int, default=1, help="processes per case (median growth)")
    parser.add_argument("--allocator-default", action="store_true",
                        help="keep rustgrad's host cache and glibc's mmap threshold in the children (see above)")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "CKPT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1] == "1", args.threads)
        return

    allocators = "default allocators" if args.allocator_default else \
        "RUSTGRAD_HOST_CACHE_MB=0 MALLOC_MMAP_THRESHOLD_=131072"
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; {allocators}")
    print(f"{'case':<12} {'checkpoint':>10} {'baseline':>10} {'peak':>10} {'growth':>10} {'step':>8}  peak from")
    ok = True
    for case in args.only or CASES:
        results = {}
        for use_checkpoint in (False, True):
            runs = [run_child(case, use_checkpoint, args.threads, args.allocator_default) for _ in range(args.repeat)]
            r = sorted(runs, key=lambda r: r["growth_kib"])[len(runs) // 2]
            r["seconds"] = statistics.median(x["seconds"] for x in runs)
            if len({x["grad_digest"] for x in runs}) != 1:
                ok = False
                print(f"{case}: gradients differ between runs of the same case")
            results[use_checkpoint] = r
            print(f"{case:<12} {'yes' if use_checkpoint else 'no':>10} {r['baseline_kib'] / 1024:>8.0f}MB "
                  f"{r['peak_kib'] / 1024:>8.0f}MB {r['growth_kib'] / 1024:>8.0f}MB {r['seconds']:>7.2f}s  "
                  f"{r['peak_method']}")
        plain, ck = results[False], results[True]
        reduction = 1 - ck["growth_kib"] / plain["growth_kib"]
        same = plain["grad_digest"] == ck["grad_digest"]
        ok &= same
        print(f"{case:<12} growth {reduction:.0%} lower with checkpointing (target >= 40%), "
              f"step {ck['seconds'] / plain['seconds']:.2f}x the time; gradients "
              f"{'identical' if same else 'DIFFERENT'} (sha256 {ck['grad_digest'][:12]}); "
              f"gradients themselves: {plain['grad_mib']:.0f}MB of each growth")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
