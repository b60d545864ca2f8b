"""helpers.metrics.esd.analyze against weightwatcher 0.7.7's WeightWatcher(model).analyze().

Four models (seed 0): an MLP 784-2048-2048-2048-10 and a Conv2d net with the shapes of
ResNet-18 (its 20 convolutions and its 512 -> 1000 classifier), each with its random
initial weights and with every weight redrawn from a Student-t(3) at the same scale. Random
weights give mostly alpha > 6; the Student-t layers give alpha in [2, 6], as trained networks
do, which is where the precision criterion below applies. Both analyzers run on the same model
in the same process, min_evals = 50 for both (the MLP's 2048 -> 10 layer is skipped by both),
each timed ``--repeats`` times: mean +- std (and min, which a loaded machine disturbs least)
of the wall time. Reported: the time ratios, the largest |alpha difference|, and where the time
goes, the eigenvalues (our ?syrk + ?syevd per slice vs weightwatcher's SVD per slice) against
the power-law fits (our vectorized KS vs weightwatcher's loop over x_min). Our float32 path is
timed too, against the criterion for a faster path: alpha within 1e-3 of weightwatcher's on
every layer with alpha <= 6, and the differences on the others listed.
Every measurement is taken with 1 thread and with all threads (torch and BLAS alike).

Usage: .venv/bin/python benchmarks/bench_esd.py [--repeats 3] [--threads 1 2]

Results (time ratio weightwatcher / esd.analyze(controls=False), means of 3 repeats; float64
alpha equal to weightwatcher's on every layer of every model):
- 2026-12-02 (session 8), the project's 2-core AMD EPYC (AVX2, 32 MB L3), the same code as the
  Intel run below (here the rule keeps OpenBLAS for every size), two runs of 3 repeats:
  1 thread:  MLP 3.12x / 2.88x, ResNet-18 shapes 3.95x / 3.94x, Student-t MLP 2.92x / 2.69x,
             Student-t ResNet-18 shapes 4.11x / 3.69x;
  2 threads: MLP 2.90x, ResNet-18 shapes 3.46x, Student-t MLP 3.49x, Student-t ResNet-18
             shapes 4.03x (the second run's two-thread rows are left out: another job of mine
             ran beside them, its std was 1.1 s).
  So the MLP misses 3x here in 4 of 6 measurements (2.69-3.49x), while the ResNet-18 shapes
  reach 3.5-4.1x. The MLP's time is its two 2048 x 2048 layers, 1.3 s each with one thread:
  ?syrk 0.30 s (28 GFLOP/s, as dgemm's 30) and ?syevd 1.0 s, of which the reduction to
  tridiagonal form (?sytrd) 0.87 s and the tridiagonal eigenvalues (?sterf) 0.06 s. ?sytrd
  reads the trailing lower triangle once per column, n^3/6 numbers, 11.4 GB for n = 2048, so
  it runs at 13 GB/s of reads: bound by memory traffic, not by flops. No float64 LAPACK here
  does much better: MKL's ?syevd took 0.92 s (0.57 vs 0.55 s with two threads), OpenBLAS's
  two-stage ?syevd 0.88 s (0.61 vs 0.56 s with two). weightwatcher's SVDs of the MLP's three
  layers took 7.99 s together. float32 (0.45 s for that ?syevd) fails the criterion, as below.
- 2026-12-02 (session 7), the project's 2-core Intel Xeon (AVX-512), nothing else running, 3
  repeats, after Gram matrices with M > 1024 moved to MKL's ?syevd on Intel CPUs and the untimed
  warm-up call was added (OpenBLAS only, timed in the same run, in brackets):
  1 thread:  MLP 5.51x (3.15x), ResNet-18 shapes 3.18x (3.12x), Student-t MLP 5.51x (3.21x),
             Student-t ResNet-18 shapes 3.13x (3.13x);
  2 threads: MLP 3.53x (3.29x), ResNet-18 shapes 3.46x (3.46x), Student-t MLP 3.55x (3.23x),
             Student-t ResNet-18 shapes 3.37x (3.44x).
  The same morning, before either change: 1 thread 3.06x, 2.79x, 3.08x, 2.99x; 2 threads 3.20x,
  3.42x, 3.23x, 3.30x. ResNet-18 has little margin at one thread: its 27 slices of 512 x 512
  take ~10.7 ms each (?syrk 1.9 ms, ?syevd 8.8 ms; MKL's ?syevd 9.1 ms, OpenBLAS's two-stage
  11.9 ms). One eigvalsh, one thread, MKL vs OpenBLAS: M = 768 43 vs 27 ms, 1024 74 vs 71,
  1152 65 vs 108, 1536 130 vs 254, 2048 281 vs 582.
- 2026-12-01, the project's 2-core AMD EPYC, nothing else running, two runs of 3 repeats, after
  the eigenvalues moved from torch.linalg.eigvalsh(W^T W) to LAPACK's ?syrk + ?syevd:
  1 thread:  MLP 3.12x / 3.45x, ResNet-18 shapes 2.72x / 3.13x, Student-t MLP 3.15x / 2.81x,
             Student-t ResNet-18 shapes 3.10x / 3.55x;
  2 threads: MLP 4.55x / 3.39x, ResNet-18 shapes 3.98x / 3.30x, Student-t MLP 4.23x / 3.19x,
             Student-t ResNet-18 shapes 3.92x / 3.67x.
  So about 3x with one thread (2 of 8 measurements below: 2.72x and 2.81x) and 3.2-4.6x with
  two. With one thread the eigenvalues are now at LAPACK's floor here: for a 2048 x 2048 layer
  ?syrk takes ~0.2 s and ?syevd ~0.7 s (the reduction to tridiagonal form), against ~2.5 s for
  weightwatcher's SVD; for a 512 x 512 slice 3 ms and 11 ms. The same morning, before the move:
  MLP 2.26x / 2.13x, ResNet-18 shapes 1.73x / 2.38x (1 / 2 threads).
  float32: 4.7-7.6x, but it fails the criterion: on one Student-t ResNet layer (alpha <= 6) a
  last-digit change moved the KS choice of x_min and alpha by 0.19; on the random layers it moved
  alpha by up to 0.035 (alpha 120). So float64 stays the default.
- 2026-12-01, the project's 2-core x86 machine of that session (not necessarily the same
  CPU), with other jobs running, 2 repeats, torch.linalg.eigvalsh:
  MLP 2.07x (1 thread), 2.04x (2 threads); ResNet-18 shapes 2.29x (1 thread), 3.04x (2 threads).
- An earlier run on a 2-core Intel Xeon (AVX-512) with little else running, 3 repeats,
  torch.linalg.eigvalsh: MLP 4.3x (1 thread), 3.4x (2 threads); ResNet-18 shapes 2.6x (1 thread),
  3.3x (2 threads). There, with one thread, weightwatcher spent 4.37 s (MLP) and 0.95 s
  (ResNet-18) in its SVDs and 0.06 s and 0.45 s in its fits; esd 1.01 s and 0.52 s in the
  eigenvalues and 0.005 s and 0.028 s in the fits.
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import time
import warnings
from unittest import mock

import numpy as np
import pandas as pd
import scipy
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from helpers.metrics import esd

logging.getLogger("weightwatcher").disabled = True
with warnings.catch_warnings():  # weightwatcher sets a global "ignore" filter at import
    import weightwatcher as ww
    from weightwatcher.RMT_Util import svd_vals
    from weightwatcher.WW_powerlaw import pl_fit

MIN_EVALS = 50


# --- the models ------------------------------------------------------------------------------
def mlp_2048(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(784, 2048), nn.ReLU(), nn.Linear(2048, 2048), nn.ReLU(),
                         nn.Linear(2048, 2048), nn.ReLU(), nn.Linear(2048, 10))


def resnet18_shapes(seed: int = 0) -> nn.Module:
    """ResNet-18's weight shapes (convs without BN or skips: only the weights matter here)."""
    torch.manual_seed(seed)
    layers = [nn.Conv2d(3, 64, 7, bias=False)] + [nn.Conv2d(64, 64, 3, bias=False) for _ in range(4)]
    for c_in, c in ((64, 128), (128, 256), (256, 512)):
        layers += [nn.Conv2d(c_in, c, 3, bias=False), nn.Conv2d(c, c, 3, bias=False),
                   nn.Conv2d(c_in, c, 1, bias=False)]  # first block: two convs and the 1x1 shortcut
        layers += [nn.Conv2d(c, c, 3, bias=False) for _ in range(2)]
    return nn.Sequential(*layers, nn.Linear(512, 1000))


def heavy_tailed(model: nn.Module, nu: float = 3.0, seed: int = 0) -> nn.Module:
    """``model`` with every weight redrawn from a Student-t with ``nu`` degrees of freedom, at the
    entries' own scale: layers with alpha in [2, 6], as trained networks have, where random
    weights give mostly alpha > 6 (the criterion below is about those layers)."""
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                t = torch.from_numpy(rng.standard_t(nu, tuple(module.weight.shape)))
                module.weight.copy_(t * module.weight.std() / t.std())
    return model


MODELS = (("MLP 784-2048x3-10", mlp_2048), ("ResNet-18 shapes", resnet18_shapes),
          ("MLP, Student-t(3) weights", lambda: heavy_tailed(mlp_2048())),
          ("ResNet-18 shapes, Student-t(3)", lambda: heavy_tailed(resnet18_shapes())))


# --- timing ----------------------------------------------------------------------------------
def timed(fn, repeats: int):
    """(result of the last call, list of wall times in seconds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, times


def ww_analyze(model):
    with warnings.catch_warnings():  # weightwatcher 0.7.7 calls a deprecated pandas API
        warnings.filterwarnings("ignore", message="Passing a dict to DataFrame.from_records")
        return ww.WeightWatcher(model=model).analyze(min_evals=MIN_EVALS)


def ww_parts(model):
    """weightwatcher's two stages, called as its analyze() calls them: SVD per slice, then the fit."""
    layers = [l for l in esd.layer_matrices(model) if l.num_evals >= MIN_EVALS]
    start = time.perf_counter()
    spectra = [np.sort(np.concatenate([svd_vals(w.numpy().astype(float), method="fast") ** 2
                                       for w in l.matrices])) for l in layers]
    middle = time.perf_counter()
    for evals in spectra:
        pl_fit(data=evals[evals > esd.EVALS_THRESH])
    return middle - start, time.perf_counter() - middle


def our_parts(model, dtype=torch.float64):
    """Our two stages: the Gram matrices' eigenvalues per layer, then the vectorized fit."""
    start = time.perf_counter()
    spectra = esd.layer_eigenvalues(model, MIN_EVALS, dtype)
    middle = time.perf_counter()
    for evals in spectra.values():
        esd.power_law_fit(evals[evals > esd.EVALS_THRESH])
    return middle - start, time.perf_counter() - middle


def fmt(times) -> str:
    return f"{np.mean(times):.3f} +- {np.std(times):.3f} (min {np.min(times):.3f})"


def bench_model(name, model, repeats, threads) -> dict:
    # one untimed call of each first: a library's first call in a process (or at a new thread
    # count) pays for its set-up, e.g. 0.3 s for MKL's first ?syevd, which a user pays once
    ww_analyze(model), esd.analyze(model, MIN_EVALS, controls=False)
    theirs, t_ww = timed(lambda: ww_analyze(model), repeats)
    # controls=False: the shuffled control (one more eigendecomposition a layer) is not part of
    # what weightwatcher computes, so it is left out of the comparison
    ours, t_ours = timed(lambda: esd.analyze(model, MIN_EVALS, controls=False), repeats)
    # the same with every Gram matrix on scipy's OpenBLAS, as before MKL took the large ones on
    # Intel CPUs (esd._large_gram_solver): the dispatch's gain, measured in the same run
    with mock.patch.object(esd, "_large_gram_solver", return_value="openblas"):
        openblas, t_openblas = timed(lambda: esd.analyze(model, MIN_EVALS, controls=False), repeats)
    ours32, t_32 = timed(lambda: esd.analyze(model, MIN_EVALS, dtype=torch.float32, controls=False),
                         repeats)
    ww_eig, ww_fit = np.mean([ww_parts(model) for _ in range(repeats)], axis=0)
    our_eig, our_fit = np.mean([our_parts(model) for _ in range(repeats)], axis=0)
    assert list(theirs["name"]) == list(ours["name"]), "the two analyzers kept different layers"
    return {"model": name, "threads": threads, "layers": len(ours),
            "weightwatcher (s)": fmt(t_ww), "ours float64 (s)": fmt(t_ours),
            "ratio (means)": np.mean(t_ww) / np.mean(t_ours), "ratio (mins)": min(t_ww) / min(t_ours),
            "large Gram solver": "/".join(sorted({esd._large_gram_solver(int(m)) for m in ours["M"]})),
            "OpenBLAS only (s)": fmt(t_openblas), "ratio OpenBLAS only (means)": np.mean(t_ww) / np.mean(t_openblas),
            "OpenBLAS only: max |d alpha| vs ww": np.abs(openblas["alpha"].values - theirs["alpha"].values).max(),
            "ours float32 (s)": fmt(t_32), "ratio float32 (mins)": min(t_ww) / min(t_32),
            "max |d alpha| vs ww": np.abs(ours["alpha"].values - theirs["alpha"].values).max(),
            **float32_alpha_differences(theirs["alpha"].values, ours32["alpha"].values),
            "ww: svd / fit (s)": f"{ww_eig:.3f} / {ww_fit:.3f}",
            "ours: eigenvalues / fit (s)": f"{our_eig:.3f} / {our_fit:.3f}"}


def float32_alpha_differences(alpha_ww: np.ndarray, alpha32: np.ndarray) -> dict:
    """The float32 path's |alpha - weightwatcher's alpha|: the largest on the layers with
    alpha <= 6 (the criterion: within 1e-3), and on the others (near-random layers, whose KS
    curve is flat enough that a last-digit change moves x_min) every difference above 1e-3."""
    diff = np.abs(alpha32 - alpha_ww)
    fitted = alpha_ww <= 6
    others = [f"{a:.1f}: {d:.3g}" for a, d in zip(alpha_ww[~fitted], diff[~fitted]) if d > 1e-3]
    return {"f32: layers with alpha <= 6": int(fitted.sum()),
            "f32: max |d alpha| vs ww there": diff[fitted].max() if fitted.any() else float("nan"),
            "f32: |d alpha| > 1e-3 elsewhere (ww alpha: diff)": "; ".join(others) or "none"}


def header(args) -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    return (f"# bench_esd: {cpu}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start\n"
            f"# python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
            f"scipy {scipy.__version__}, weightwatcher {ww.__version__}\n"
            f"# seed 0, {args.repeats} repeats per measurement (mean +- std and min of wall time), "
            f"min_evals {MIN_EVALS}, threads {args.threads}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count()])
    args = parser.parse_args()
    print(header(args), flush=True)
    rows, default_threads = [], torch.get_num_threads()
    for threads in args.threads:
        torch.set_num_threads(threads)
        with threadpool_limits(limits=threads):
            for name, build in MODELS:
                rows.append(bench_model(name, build(), args.repeats, threads))
                print(pd.DataFrame(rows[-1:]).T.to_string(header=False), flush=True)
    torch.set_num_threads(default_threads)
    pd.set_option("display.width", 250)
    print(f"\n# load average {os.getloadavg()[0]:.2f} at the end\n" + pd.DataFrame(rows).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
