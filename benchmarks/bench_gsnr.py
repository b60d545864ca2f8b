"""helpers.metrics.gsnr.gradient_moments against the ways it replaces, and against BackPACK 1.7.1.

Data and models: 4,000 MNIST-1D samples (data seed 0); the MLP 40-256-256-10 of Chapter 3
(78,858 parameters, every layer Linear: the SumGradSquared identity applies) and the default
1-D CNN of helpers.models (13,706 parameters: three Conv1d layers, which take the convolution
identity, im2col + hooks, and one Linear layer), both with init seed 0, in eval mode, on the CPU.

Timed, for each model, the same per-parameter sums of g and g^2 over the 4,000 samples by
- ``gradient_moments`` (chunks of 1,024);
- a naive loop: one forward and backward pass per sample, sums accumulated in float64;
- a plain vmap: ``torch.func.vmap(grad)`` per-sample gradients of every parameter, in chunks
  of 1,000 samples, sums accumulated in float64;
- the floor: one ordinary mini-batch gradient over the same 4,000 samples (forward + backward).
Each is repeated ``--repeats`` times (the CNN half as often), alternating; reported are mean +-
std of the wall times and the ratios of the means. Targets: >= 20x faster than the loop and
<= 3x the floor for the MLP; <= 3x the floor for the 1-D CNN.

Peak memory: ``gradient_moments`` on 1,000, 16,000 and 64,000 samples, each in a fresh
subprocess, for each model; the rise of the process's peak resident memory over its level just
before the call (target: flat). Agreement: the variance against BackPACK's ``Variance``
extension on the same models and data (summed loss, so BackPACK's per-sample gradients are
ours), relative Frobenius error per parameter tensor, in float32 and float64 (target 1e-6).

Measured (x86_64, 2 cores, 1 torch thread, python 3.11.7, torch 2.13.0+cpu, load average ~1
from other work; one session each, ``--threads 1``, 5 repeats; ratios of mean wall times):

                           before (Conv1d by torch.func)     after (Conv1d by im2col + hooks)
    MLP     vs floor       1.31x (0.086 s / 0.065 s)         1.54x (0.082 s / 0.053 s)
            vs loop        43.3x faster                      49.4x faster
            vs vmap        113x faster                       110x faster
    1-D CNN vs floor       4.58x (1.265 s / 0.276 s)         1.54x (0.450 s / 0.293 s)
            vs loop        3.4x faster                       10.3x faster
            vs vmap        1.0x                              3.3x faster

Both targets are met. The MLP's path is unchanged: its time is the same, the move of its
ratio is the ~0.06 s floor's noise. An earlier after-run (before the CNN's memory and BackPACK
rows were added) gave the CNN 1.42x the floor, 10.7x the loop, 3.3x the vmap. Where the
CNN's remaining time goes (instrumented run, 0.32 s in all): about 0.16 s is the forward and
backward pass over the chunks (the backward pass computes no conv weight gradients: autograd
is asked for the conv outputs' gradients instead), about 0.155 s the per-sample conv weight
gradients: unfolding 0.04 s, the batched products 0.08 s, squaring and summing 0.04 s.
Peak memory after: MLP +12 / +29 / +10 MiB and CNN +42 / +52 / +28 MiB at 1,000 / 16,000 /
64,000 samples (flat); BackPACK agreement: 9.3e-08 (float32) and 1.5e-15 (float64) for the
MLP, 2.6e-07 and 1.9e-15 for the CNN.

Usage: .venv/bin/python benchmarks/bench_gsnr.py [--repeats 5] [--threads 1]
"""
from __future__ import annotations

import argparse
import copy
import os
import platform
import subprocess
import sys
import time
import warnings

import numpy as np
import torch
from torch.func import functional_call, grad, vmap
from torch.nn import functional as F

from helpers import data, models
from helpers.metrics import gsnr

N = 4000


# --- the four ways to sum g and g^2 over the samples --------------------------------------------
def ours(model, X, y):
    return gsnr.gradient_moments(model, F.cross_entropy, X, y, chunk_size=1024)


def naive_loop(model, X, y):
    params = [p for p in model.parameters()]
    s1 = [torch.zeros(p.shape, dtype=torch.float64) for p in params]
    s2 = [torch.zeros(p.shape, dtype=torch.float64) for p in params]
    for i in range(len(X)):
        grads = torch.autograd.grad(F.cross_entropy(model(X[i:i + 1]), y[i:i + 1]), params)
        for a, b, g in zip(s1, s2, grads):
            a += g.double()
            b += g.double().square()
    return s1, s2


def plain_vmap(model, X, y, chunk=1000):
    params = {k: p.detach() for k, p in model.named_parameters()}
    loss = lambda p, x, t: F.cross_entropy(functional_call(model, p, (x[None],)), t[None])
    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))
    s1 = {k: torch.zeros(p.shape, dtype=torch.float64) for k, p in params.items()}
    s2 = {k: torch.zeros(p.shape, dtype=torch.float64) for k, p in params.items()}
    for i in range(0, len(X), chunk):
        for k, g in per_sample(params, X[i:i + chunk], y[i:i + chunk]).items():
            s1[k] += g.double().sum(0)
            s2[k] += g.double().square().sum(0)
    return s1, s2


def floor(model, X, y):
    return torch.autograd.grad(F.cross_entropy(model(X), y), list(model.parameters()))


def timed(fn, *args):
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def speed(name, model, X, y, repeats):
    ways = {"gradient_moments": ours, "naive loop": naive_loop, "plain vmap": plain_vmap, "floor": floor}
    for fn in ways.values():  # warm-up: first calls pay for lazy initialization
        fn(model, X[:64], y[:64])
    times = {k: [] for k in ways}
    for _ in range(repeats):
        for k, fn in ways.items():
            times[k].append(timed(fn, model, X, y))
    mean = {k: float(np.mean(v)) for k, v in times.items()}
    print(f"\n## {name}, {sum(p.numel() for p in model.parameters()):,} parameters, {len(X)} samples")
    for k, v in times.items():
        print(f"{k:>18}: {np.mean(v):8.3f} +- {np.std(v):.3f} s")
    print(f"{'speed-up vs loop':>18}: {mean['naive loop'] / mean['gradient_moments']:8.1f}x")
    print(f"{'speed-up vs vmap':>18}: {mean['plain vmap'] / mean['gradient_moments']:8.1f}x")
    print(f"{'cost vs floor':>18}: {mean['gradient_moments'] / mean['floor']:8.2f}x")
    return mean


# --- peak memory, one subprocess per size ---------------------------------------------------
CHILD = """
import os, sys, threading, time, torch
from torch.nn import functional as F
from helpers import data, models
from helpers.metrics import gsnr
torch.set_num_threads(int(sys.argv[2]))
page = os.sysconf("SC_PAGE_SIZE")
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * page  # resident bytes now
ds = data.load_dataset("mnist1d", n_train=int(sys.argv[1]), n_test=10, seed=0)
model = (models.mlp(40, (256, 256), seed=0) if sys.argv[3] == "mlp"
         else models.cnn1d(40, seed=0)).eval()
gsnr.gradient_moments(model, F.cross_entropy, ds.x_train[:64], ds.y_train[:64])  # load the libraries
peak, done, before = [0], threading.Event(), rss()
def poll():  # the resident size, sampled every millisecond during the call
    while not done.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.001)
thread = threading.Thread(target=poll)
thread.start()
gsnr.gradient_moments(model, F.cross_entropy, ds.x_train, ds.y_train)
done.set()
thread.join()
print(max(peak[0], rss()) - before)
"""


def peak_memory(threads):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for name, size in (("mlp", 78858), ("cnn1d", 13706)):
        print(f"\n## peak memory of gradient_moments ({name}): rise of the resident size during "
              "the call")
        for n in (1000, 16000, 64000):
            out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(threads), name],
                                 capture_output=True, text=True, check=True, cwd=root)
            rise = int(out.stdout.strip().splitlines()[-1])
            print(f"{n:>6} samples: +{rise / 2 ** 20:.1f} MiB (all per-sample gradients would take "
                  f"{n * size * 4 / 2 ** 20:,.0f} MiB in float32)")


# --- agreement with BackPACK ---------------------------------------------------------------
def backpack_agreement(name, model, X, y):
    try:
        import backpack
        from backpack.extensions import Variance
    except Exception as err:  # not installed, or its torchvision import fails
        print(f"\n## BackPACK: not available ({err}); agreement not measured")
        return
    print(f"\n## agreement with BackPACK 1.7.1's Variance ({name}; same model and data, "
          "summed loss)")
    for dtype in (torch.float32, torch.float64):
        m = copy.deepcopy(model).to(dtype)
        ours_var = gsnr.gradient_moments(m, F.cross_entropy, X.to(dtype), y).var
        ext = backpack.extend(copy.deepcopy(m))
        with backpack.backpack(Variance()), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Full backward hook is firing")  # first layer
            backpack.extend(torch.nn.CrossEntropyLoss(reduction="sum"))(ext(X.to(dtype)), y).backward()
        rel = max(float((ours_var[k] - p.variance.double()).norm() / p.variance.double().norm())
                  for k, p in ext.named_parameters())
        print(f"{str(dtype):>14}: largest relative difference {rel:.1e} (target 1e-6): "
              f"{'agrees' if rel <= 1e-6 else 'DOES NOT AGREE'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ds = data.load_dataset("mnist1d", n_train=N, n_test=10, seed=0)
    X, y = ds.x_train, ds.y_train
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{torch.get_num_threads()} torch thread(s), python {platform.python_version()}, torch {torch.__version__}; "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print(f"# MNIST-1D data seed 0, init seed 0, {args.repeats} repeats, mean +- std of wall times")
    mlp = models.mlp(40, (256, 256), seed=0).eval()
    speed("MLP 40-256-256-10", mlp, X, y, args.repeats)
    cnn = models.cnn1d(40, seed=0).eval()
    speed("1-D CNN (helpers.models.cnn1d)", cnn, X, y, max(1, args.repeats // 2))
    peak_memory(args.threads)
    backpack_agreement("MLP", mlp, X, y)
    backpack_agreement("1-D CNN", cnn, X, y)
    print(f"\n# load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
