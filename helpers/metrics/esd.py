"""Heavy-tailed spectra of the weight matrices (Chapter 5; Martin & Mahoney 2019/2020).

For a layer's weight matrix W (N x M, oriented N >= M) the empirical spectral density (ESD) is
the set of eigenvalues lambda_i of X = W^T W. Its tail is fitted to a power law
rho(lambda) ~ lambda^(-alpha) for lambda >= x_min, by maximum likelihood with the x_min that
minimizes the Kolmogorov-Smirnov distance (Clauset, Shalizi & Newman 2009). The model-level
"alpha-hat" is the mean over layers of alpha * log10(lambda_max). No data are needed.

The conventions are weightwatcher 0.7.7's ``WeightWatcher(model).analyze()``, which the tests
check layer by layer: a Conv2d's kh*kw slices W[:, :, i, j] are pooled into one ESD and, with
``conv2d_norm`` (its default), scaled by 1/2 (weightwatcher multiplies W by sqrt(1/2));
eigenvalues below 1e-5 are numerical zeros and are left out of the fit; every eigenvalue but
the largest is a candidate x_min. Unlike weightwatcher, Conv1d layers are analyzed (k slices).

Phases (``diagnose``, ``diagnose_matrix``; ``analyze``'s PHASE_COLUMNS and CONTROL_COLUMNS): each
ESD is placed in Martin & Mahoney's 5+1 phases (random-like, bleeding-out, bulk+spikes,
bulk-decay, heavy-tailed, rank-collapse; 2019, JMLR 2021) from measurements: a Marchenko-Pastur
fit of the bulk (``mp_fit``) with the spikes beyond its edge widened by a Tracy-Widom margin,
likelihood-ratio tests of the power-law tail against exponential and lognormal tails
(``likelihood_ratio_test``, Clauset et al. 2009), the numerical rank, and the same for the
layer's entries shuffled (``shuffle_entries``): the randomized control, which keeps the entries'
distribution and destroys their correlations.

Speed: eigenvalues come from the smaller Gram matrix W^T W (LAPACK's ``?syrk`` and ``?syevd``
on a CPU, from scipy's OpenBLAS, or for M > 1024 on an Intel CPU from torch's MKL, which is
faster there; ``torch.linalg.eigvalsh`` on a GPU; float64 by default), not from an SVD per slice. The KS
distances of the x_min candidates are vectorized: lower bounds for all candidates at once from
a subset of the table's columns, then exact distances for the few the bounds do not rule out
(the same x_min and alpha as the full table, in a fraction of the time). The phase's fits are
O(M) after the eigenvalues (about 2 ms a layer); the shuffled control costs one more
eigendecomposition per layer (``controls=False`` skips it).
"""
from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy import optimize, special
from torch import nn

from ..safety import check_model

EVALS_THRESH = 1e-5  # weightwatcher's numerical zero: smaller eigenvalues are not fitted
_KS_BLOCK = 2 ** 18  # entries of one block of the (candidates x eigenvalues) KS table (2 MiB)
METRIC_COLUMNS = ("name", "kind", "N", "M", "slices", "num_evals", "lambda_max", "alpha",
                  "alpha_weighted", "log_norm", "log_spectral_norm", "stable_rank", "xmin", "num_tail",
                  "ks_distance", "sigma")  # weightwatcher's columns, checked against it
PHASE_COLUMNS = ("phase", "num_spikes", "rank_loss", "sigma2_mp", "lambda_plus", "spike_edge",
                 "mp_ks", "lr_exponential", "p_exponential", "lr_lognormal", "p_lognormal")
CONTROL_COLUMNS = ("phase_shuffled", "num_spikes_shuffled", "alpha_shuffled")  # with controls=True
COLUMNS = METRIC_COLUMNS + PHASE_COLUMNS + CONTROL_COLUMNS
_KINDS = ((nn.Linear, "linear"), (nn.Conv1d, "conv1d"), (nn.Conv2d, "conv2d"))


# ---------------------------------------------------------------------------------------------
# Layer matrices and their eigenvalues
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerMatrices:
    """One layer's weight matrices, stacked: ``matrices`` is (slices, N, M) with N >= M."""

    name: str             # the module's name in ``model.named_modules()``
    kind: str             # 'linear' | 'conv1d' | 'conv2d'
    matrices: torch.Tensor  # detached views of the weights: do not modify in place

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.matrices.shape)

    @property
    def num_evals(self) -> int:
        """Eigenvalues in the pooled ESD: slices * M."""
        return self.shape[0] * self.shape[2]


def layer_matrices(model: nn.Module) -> list[LayerMatrices]:
    """The weight matrices W (N x M, N >= M) of every Linear, Conv1d and Conv2d layer (Ch. 5).

    Linear gives W; Conv1d (out, in, k) gives its k slices W[:, :, i]; Conv2d (out, in, kh, kw)
    its kh*kw slices W[:, :, i, j]. Each slice is transposed if needed so that N >= M.
    """
    check_model(model)
    layers = []
    for name, module in model.named_modules():
        kind = next((k for cls, k in _KINDS if isinstance(module, cls)), None)
        if kind is None or getattr(module, "weight", None) is None:
            continue
        w = module.weight.detach()
        w = w[None] if kind == "linear" else w.flatten(2).permute(2, 0, 1)  # (slices, out, in)
        if w.shape[1] < w.shape[2]:
            w = w.mT
        layers.append(LayerMatrices(name, kind, w))
    return layers


def esd(matrices: torch.Tensor, dtype: torch.dtype = torch.float64) -> np.ndarray:
    """The pooled ESD: eigenvalues of X = W^T W of every slice of ``matrices``, ascending (Ch. 5).

    ``matrices`` is one (N, M) matrix or a stack (slices, N, M). The eigenvalues are those of
    the smaller Gram matrix, computed in ``dtype``, clipped at zero: on a CPU by LAPACK
    (``?syrk`` for the Gram matrix through scipy, ``?syevd`` for its eigenvalues through scipy,
    or through torch where its MKL is faster: ``_large_gram_solver``), on a GPU by
    ``torch.linalg.eigvalsh`` on the matrices' device.
    """
    if not isinstance(matrices, torch.Tensor) or matrices.dim() not in (2, 3):
        raise ValueError("matrices must be a 2-D (N, M) or 3-D (slices, N, M) tensor, got "
                         f"{getattr(matrices, 'shape', type(matrices).__name__)}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    w = matrices.detach()
    w = w[None] if w.dim() == 2 else w
    w = w.mT if w.shape[1] < w.shape[2] else w
    # one contiguous copy (on a CPU each slice's transpose is then Fortran-ordered, as ?syrk wants)
    w = w.to(dtype, memory_format=torch.contiguous_format)
    if w.device.type == "cpu":
        evals = _gram_eigenvalues_lapack(w.numpy())
    else:
        evals = torch.linalg.eigvalsh(w.mT @ w).cpu().numpy()  # (slices, M)
    return np.sort(np.clip(evals.ravel().astype(np.float64), 0, None))


# Square slices of at most this size gain nothing from a second BLAS thread (their time is the
# threads' start-up and synchronisation: ResNet-18's 512 x 512 slices ran slower with 2 threads
# than with 1 in benchmarks/bench_esd.py), so they always run on one: the same bits either way.
_LAPACK_SERIAL_MAX = 1024


@functools.cache
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@functools.cache
def _torch_lapack_is_mkl_on_intel() -> bool:
    """Whether torch's LAPACK is Intel's MKL and the CPU an Intel one (read once per process).

    Then Gram matrices larger than _LAPACK_SERIAL_MAX go to MKL's ?syevd (through
    ``torch.linalg.eigvalsh``): on a 2-core Intel Xeon it took 2.07x less time than scipy's
    OpenBLAS for M = 2048 with one thread (281 vs 582 ms; 1.43x with two) and 1.65x for
    M = 1152, but 0.95x for M = 1024 and 0.62x for M = 768 (benchmarks/bench_esd.py has the
    whole run). On an AMD EPYC MKL was the slower one for M <= 1024 (M = 784: 82 vs 45 ms;
    1024: 170 vs 111 ms, one thread) and within about 10% at M = 2048 (917 vs 1026 ms with one
    thread, 571 vs 546 ms with two), so the rule names the vendor: it is a fixed property of
    the machine, so one machine always takes the same path and gives the same bits.
    """
    if "LAPACK_INFO=mkl" not in torch.__config__.show():
        return False
    try:
        with open("/proc/cpuinfo") as f:
            return "GenuineIntel" in f.read()
    except OSError:  # not Linux: platform.processor() names the vendor on Windows
        import platform

        return "intel" in platform.processor().lower()


def _large_gram_solver(m: int) -> str:
    """Which LAPACK computes the eigenvalues of an M x M Gram matrix on a CPU: "mkl" or "openblas"."""
    return "mkl" if m > _LAPACK_SERIAL_MAX and _torch_lapack_is_mkl_on_intel() else "openblas"


def _gram_eigenvalues_lapack(w: np.ndarray) -> np.ndarray:
    """Eigenvalues (slices, M) of each slice's Gram matrix W_s^T W_s; ``w`` is (slices, N, M).

    Why not ``torch.linalg.eigvalsh(w.mT @ w)``: ``?syrk`` forms only the Gram matrix's lower
    triangle (half the flops of a matrix product), and scipy's LAPACK (OpenBLAS) reduced these
    symmetric matrices to tridiagonal form faster than torch's did on the machines measured
    (benchmarks/bench_esd.py), except for large M on Intel CPUs, where MKL's is faster and
    takes over (``_large_gram_solver``). The workspace is LAPACK's optimal size: scipy's
    default for ``?syevd`` without vectors is so small that the reduction runs unblocked, 2x
    slower. BLAS runs on torch's thread count (the book's thread policy: one count, the same
    bits).
    """
    from scipy.linalg import blas

    double = w.dtype == np.float64
    syrk = blas.dsyrk if double else blas.ssyrk
    m = w.shape[2]
    eigenvalues = _mkl_eigenvalues if _large_gram_solver(m) == "mkl" else _openblas_eigenvalues(m, double)
    threads = 1 if m <= _LAPACK_SERIAL_MAX else torch.get_num_threads()
    evals = np.empty((w.shape[0], m), dtype=w.dtype)
    with _blas_controller().limit(limits=threads, user_api="blas"):
        for i, s in enumerate(w):
            evals[i] = eigenvalues(syrk(1.0, s.T, trans=0, lower=1))  # s.T: (M, N), Fortran-ordered, no copy
    return evals


def _mkl_eigenvalues(gram: np.ndarray) -> np.ndarray:
    """The eigenvalues of ?syrk's Fortran-ordered (M, M) array: the same matrix to torch, whose
    ``eigvalsh`` reads only its lower half, as ?syrk filled it."""
    return torch.linalg.eigvalsh(torch.from_numpy(gram), UPLO="L").numpy()


def _openblas_eigenvalues(m: int, double: bool):
    """scipy's ?syevd for (M, M) lower-half Gram matrices, with its optimal workspace."""
    from scipy.linalg import lapack

    syevd = lapack.dsyevd if double else lapack.ssyevd
    lwork, liwork, info = (lapack.dsyevd_lwork if double else lapack.ssyevd_lwork)(m, compute_v=0, lower=1)
    if info != 0:  # only a wrong argument makes the workspace query fail
        raise RuntimeError(f"LAPACK ?syevd workspace query failed (info {info}) for M = {m}")

    def eigenvalues(gram: np.ndarray) -> np.ndarray:
        evals, _, info = syevd(gram, compute_v=0, lower=1, lwork=int(lwork), liwork=int(liwork), overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"LAPACK ?syevd did not converge (info {info})")
        return evals

    return eigenvalues


# ---------------------------------------------------------------------------------------------
# Power-law fit of the tail
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PowerLawFit:
    """A power law rho(lambda) ~ lambda^(-alpha) fitted to the tail lambda >= xmin."""

    alpha: float         # MLE exponent, 1 + n / sum ln(lambda_i / xmin)
    xmin: float          # start of the tail (an eigenvalue)
    ks_distance: float   # Kolmogorov-Smirnov distance D between the tail and the fitted law
    num_tail: int        # n, the eigenvalues >= xmin
    sigma: float         # standard error of alpha, (alpha - 1) / sqrt(n)
    num_evals: int       # eigenvalues given to the fit

    def pdf(self, x) -> np.ndarray:
        """Density of the whole ESD predicted in the tail: (n / total) * (a - 1) / xmin * (x / xmin)^-a."""
        x = np.asarray(x, dtype=np.float64)
        dens = (self.alpha - 1) / self.xmin * (x / self.xmin) ** (-self.alpha)
        return np.where(x >= self.xmin, dens * self.num_tail / self.num_evals, np.nan)


class FlatSpectrumError(ValueError):
    """The eigenvalues (of the tail) are all equal: a power law has no finite exponent there."""


FLAT_RTOL = 1e-9  # eigenvalues within this relative spread count as all equal


def _check_not_flat(x: np.ndarray, what: str) -> None:
    """FlatSpectrumError if the sorted values ``x`` are all equal to ``FLAT_RTOL``."""
    if x[-1] - x[0] <= FLAT_RTOL * x[-1]:
        raise FlatSpectrumError(
            f"{what} are all equal ({len(x)} values of {x[-1]:.6g}): a power law has no finite "
            "exponent on a flat spectrum (alpha would be inf); an identity or orthogonal layer "
            "has one, and has no heavy tail to measure")


def _check_eigenvalues(eigenvalues) -> np.ndarray:
    x = np.sort(np.asarray(eigenvalues, dtype=np.float64).ravel())
    if x.size < 2 or not np.all(np.isfinite(x)) or x[0] <= 0:
        raise ValueError("eigenvalues must hold at least 2 finite positive values, got "
                         f"{x.size} values with min {x.min() if x.size else None}")
    return x


def _alphas(logs: np.ndarray) -> np.ndarray:
    """MLE alpha for x_min = x_i, i = 0..n-2 (sorted logs): 1 + n_i / sum_{j >= i} (ln x_j - ln x_i)."""
    n_i = np.arange(len(logs), 1, -1, dtype=np.float64)          # tail sizes N - i
    shifted = logs - logs[0]
    suffix = np.cumsum(shifted[::-1])[::-1][:-1]                 # sum_{j >= i} (ln x_j - ln x_0)
    with np.errstate(divide="ignore", invalid="ignore"):         # a flat tail gives alpha = inf
        return 1 + n_i / (suffix - n_i * shifted[:-1])


def _ks_distances(logs: np.ndarray, alphas: np.ndarray, rows: np.ndarray, step: int = 1) -> np.ndarray:
    """D_i = max_{j >= i} |1 - (x_j / x_i)^(1 - alpha_i) - (j - i) / n_i| for the candidates i in
    ``rows`` (ascending), in row blocks of the (i, j) table. With ``step`` > 1 only the columns
    j = 0, step, 2 step, ... are used: a lower bound of D_i, computed with the same operations.

    Each row is scaled by n_i = n - i, so that n_i (x_j / x_i)^(1 - alpha_i) + j - n is
    computed in place; numpy, single-threaded, is faster here than torch's thread pool.
    """
    n, cols, out = len(logs), np.arange(0, len(logs), step), []
    block = max(1, _KS_BLOCK // len(cols))
    with np.errstate(over="ignore", invalid="ignore"):
        for s in range(0, len(rows), block):
            i = rows[s:s + block]
            c = cols[cols >= i[0]]
            t = logs[None, c] - logs[i, None]                 # (block, columns): ln(x_j / x_i)
            t *= (1 - alphas[i])[:, None]
            np.exp(t, out=t)                                  # 1 - fitted CDF at x_j
            t *= (n - i)[:, None]
            t += c - n                                        # n_i * (fitted - empirical CDF), negated
            np.abs(t, out=t)
            np.putmask(t, c[None, :] < i[:, None], 0.0)       # j < i is not in the tail
            out.append(t.max(1, initial=0.0) / (n - i))
    d, a = np.concatenate(out), alphas[rows]
    return np.where(np.isfinite(a) & (a > 1) & np.isfinite(d), d, 1.0)


def _best_candidate(logs: np.ndarray, alphas: np.ndarray) -> tuple[int, float]:
    """argmin_i D_i over all candidates (the first one on ties), exactly, without the whole table.

    Lower bounds from every step-th column rule out most candidates; the others are computed in
    full, in order of their bounds, until no bound is below the best distance found.
    """
    rows, step = np.arange(len(logs) - 1), max(1, math.isqrt(len(logs)) // 4)
    lower = _ks_distances(logs, alphas, rows, step)
    order, best = np.argsort(lower, kind="stable"), (np.inf, -1)
    for s in range(0, len(order), 64):
        chunk = np.sort(order[s:s + 64][lower[order[s:s + 64]] <= best[0]])
        if len(chunk) == 0:
            break  # the bounds are sorted: no later candidate can do better
        d = _ks_distances(logs, alphas, chunk) if step > 1 else lower[chunk]
        best = min(best, min(zip(d.tolist(), chunk.tolist())))
    return best[1], best[0]


def power_law_fit(eigenvalues, xmin: float | None = None) -> PowerLawFit:
    """Continuous power-law MLE of the tail, alpha = 1 + n / sum ln(lambda_i / xmin) (Ch. 5).

    With ``xmin=None``, every value but the largest is a candidate x_min and the one with the
    smallest Kolmogorov-Smirnov distance wins (Clauset et al. 2009), the distances vectorized
    over candidates and pruned by exact lower bounds. A given ``xmin`` fixes the tail to the values >= xmin (at least 2 of them).
    """
    x = _check_eigenvalues(eigenvalues)
    _check_not_flat(x, "the eigenvalues")
    logs = np.log(x)
    if xmin is None:
        alphas = _alphas(logs)
        i, d = _best_candidate(logs, alphas)
        alpha = float(alphas[i])
    else:
        if not (isinstance(xmin, numbers.Real) and 0 < xmin <= x[-2]):
            raise ValueError(f"xmin must lie in (0, {x[-2]:.4g}] (at least 2 values in the tail), "
                             f"got {xmin!r}")
        i = int(np.searchsorted(x, xmin, side="left"))
        _check_not_flat(x[i:], f"the eigenvalues >= xmin = {xmin:.6g}")
        alphas = _alphas(logs[i:])[:1]
        alpha, d = float(alphas[0]), float(_ks_distances(logs[i:], alphas, np.arange(1))[0])
    n = len(x) - i
    if not math.isfinite(alpha):  # a tail flat in floating point, though not to FLAT_RTOL
        raise FlatSpectrumError(f"the {n} eigenvalues of the tail from {x[i]:.6g} are equal in "
                                "floating point: a power law has no finite exponent there")
    return PowerLawFit(alpha, float(x[i]), d, n, (alpha - 1) / math.sqrt(n), len(x))


@dataclass(frozen=True)
class KSCurve:
    """The Kolmogorov-Smirnov distance of every candidate x_min (``ks_curve``)."""

    xmin: np.ndarray         # candidates: every eigenvalue but the largest, ascending
    alpha: np.ndarray        # the MLE exponent of the tail from each candidate
    ks_distance: np.ndarray  # D(x_min); 1.0 where no finite alpha > 1 exists
    num_tail: np.ndarray     # eigenvalues >= each candidate


def ks_curve(eigenvalues) -> KSCurve:
    """D(x_min) = max_{lambda >= x_min} |F_emp - F_alpha| for every candidate x_min (Ch. 5).

    The whole curve that ``power_law_fit`` minimizes (Clauset et al. 2009): its argmin is the
    fit's ``xmin``, with the same ``alpha`` and ``ks_distance``. O(n^2) in the eigenvalues.
    """
    x = _check_eigenvalues(eigenvalues)
    _check_not_flat(x, "the eigenvalues")
    logs = np.log(x)
    alphas = _alphas(logs)
    rows = np.arange(len(x) - 1)
    return KSCurve(x[:-1], alphas, _ks_distances(logs, alphas, rows), len(x) - rows)


# ---------------------------------------------------------------------------------------------
# Marchenko-Pastur: the ESD of a random matrix
# ---------------------------------------------------------------------------------------------
def _check_shape(n: int, m: int, sigma2: float) -> float:
    if not (isinstance(n, int) and isinstance(m, int) and n >= m >= 1):
        raise ValueError(f"N and M must be integers with N >= M >= 1, got N={n!r}, M={m!r}")
    if not (sigma2 > 0 and math.isfinite(sigma2)):
        raise ValueError(f"sigma2 must be a positive finite variance, got {sigma2!r}")
    return m / n


def mp_bounds(n: int, m: int, sigma2: float = 1.0) -> tuple[float, float]:
    """Marchenko-Pastur edges of the ESD of W^T W, W (N x M) with iid entries of variance sigma2.

    lambda_+- = N sigma2 (1 +- sqrt(M / N))^2 (Ch. 5).
    """
    q = _check_shape(n, m, sigma2)
    return n * sigma2 * (1 - math.sqrt(q)) ** 2, n * sigma2 * (1 + math.sqrt(q)) ** 2


def mp_density(x, n: int, m: int, sigma2: float = 1.0) -> np.ndarray:
    """Marchenko-Pastur density of the eigenvalues of W^T W (Ch. 5).

    rho(lambda) = sqrt((lambda_+ - lambda)(lambda - lambda_-)) / (2 pi sigma2 (M / N) N lambda),
    zero outside [lambda_-, lambda_+]; it integrates to 1 over the M eigenvalues.
    """
    q = _check_shape(n, m, sigma2)
    lo, hi = mp_bounds(n, m, sigma2)
    x = np.asarray(x, dtype=np.float64)
    inside = (x > lo) & (x < hi)
    safe = np.where(inside, x, 1.0)
    dens = np.sqrt(np.clip((hi - safe) * (safe - lo), 0, None)) / (2 * np.pi * sigma2 * q * n * safe)
    return np.where(inside, dens, 0.0)


def mp_cdf(x, n: int, m: int, sigma2: float = 1.0, points: int = 4001) -> np.ndarray:
    """Marchenko-Pastur distribution function F(x) = integral of ``mp_density`` up to x (Ch. 5).

    Integrated numerically on lambda(t) = lambda_- + (lambda_+ - lambda_-)(1 - cos t) / 2,
    t in [0, pi], where the integrand is smooth even at a square-root edge or at lambda_- = 0.
    """
    lam, cdf = _mp_table(n, m, sigma2, points)
    return np.interp(np.asarray(x, dtype=np.float64), lam, cdf, left=0.0, right=1.0)


def _mp_table(n: int, m: int, sigma2: float = 1.0, points: int = 4001) -> tuple[np.ndarray, np.ndarray]:
    """``mp_cdf``'s table: eigenvalues lambda(t) on the cosine grid and F(lambda(t)), ascending."""
    q = _check_shape(n, m, sigma2)
    lo, hi = mp_bounds(n, m, sigma2)
    t = np.linspace(0, np.pi, points)
    lam = lo + (hi - lo) * (1 - np.cos(t)) / 2
    with np.errstate(divide="ignore", invalid="ignore"):  # t = 0 with lambda_- = 0: the limit is finite
        f = ((hi - lo) / 2 * np.sin(t)) ** 2 / (2 * np.pi * sigma2 * q * n * lam)
    f[0] = f[1] if not np.isfinite(f[0]) else f[0]
    cdf = np.concatenate([[0.0], np.cumsum((f[1:] + f[:-1]) / 2 * np.diff(t))])
    return lam, cdf / cdf[-1]


# ---------------------------------------------------------------------------------------------
# Tracy-Widom: how far past lambda_+ the largest eigenvalue of a random matrix reaches
# ---------------------------------------------------------------------------------------------
TW_LEVEL = 0.999  # a random layer shows a false spike with probability 1 - TW_LEVEL = 0.1 %
_TW_NODES, _TW_CUTOFF = 60, 16.0  # Gauss-Legendre nodes on (0, cutoff): F_1 to ~1e-12 for s >= -4


def tracy_widom_cdf(s: float) -> float:
    """F_1(s), the Tracy-Widom law (beta = 1) of the largest eigenvalue of a real Wishart matrix.

    F_1(s) = det(I - K_s) on L^2(0, inf) with K_s(x, y) = Ai((x + y) / 2 + s) / 2 (Ferrari &
    Spohn 2005), discretized by Gauss-Legendre quadrature (Bornemann 2010). Ai decays like
    exp(-(2/3) t^(3/2)), so cutting the kernel at x, y < 16 costs under 1e-12 for s >= -4.
    """
    x, w = np.polynomial.legendre.leggauss(_TW_NODES)
    x, r = (x + 1) * _TW_CUTOFF / 2, np.sqrt(w * _TW_CUTOFF / 2)
    kernel = special.airy((x[:, None] + x[None, :]) / 2 + s)[0] / 2
    return float(np.linalg.det(np.eye(_TW_NODES) - r[:, None] * kernel * r[None, :]))


@functools.lru_cache(maxsize=256)
def tracy_widom_quantile(level: float) -> float:
    """The ``level`` quantile of F_1, level in [0.5, 1 - 1e-9].

    0.95: 0.9793, 0.99: 2.0234 (the tables), 0.999: 3.2722 (TW_LEVEL's margin).
    """
    if not (isinstance(level, numbers.Real) and 0.5 <= level <= 1 - 1e-9):
        raise ValueError(f"level must be a probability in [0.5, 1 - 1e-9], got {level!r}")
    return float(optimize.brentq(lambda s: tracy_widom_cdf(s) - level, -4.0, 12.0, xtol=1e-12))


def _check_slices(slices) -> int:
    if not (isinstance(slices, numbers.Integral) and slices >= 1):
        raise ValueError(f"slices must be an integer >= 1 (the matrices pooled in the ESD), "
                         f"got {slices!r}")
    return int(slices)


def tw_scale(n: int, m: int, sigma2: float = 1.0) -> float:
    """Tracy-Widom scale s of lambda_max of W^T W, W (N x M) with iid entries of variance sigma2.

    s = sigma2 (sqrt N + sqrt M) (1 / sqrt N + 1 / sqrt M)^(1/3), and (lambda_max - lambda_+) / s
    tends to F_1 (Johnstone 2001; universal for entries with a finite fourth moment): the edge
    fluctuates by lambda_+ times O(M^(-2/3)). Johnstone centres at (sqrt(N - 1) + sqrt M)^2 sigma2;
    the -1 moves the edge by about 0.1 s and is left out, so that lambda_+ is ``mp_bounds``'.
    """
    _check_shape(n, m, sigma2)
    a, b = math.sqrt(n), math.sqrt(m)
    return sigma2 * (a + b) * (1 / a + 1 / b) ** (1 / 3)


def spike_edge(n: int, m: int, sigma2: float = 1.0, slices: int = 1, level: float = TW_LEVEL) -> float:
    """lambda_+ + c s: the largest eigenvalue of a random ESD stays below it with probability ``level``.

    s is ``tw_scale`` and c the Tracy-Widom quantile at level^(1 / slices) (Sidak): an ESD pooled
    from ``slices`` independent slices passes the edge when any of its slices does, so a random
    layer has the same false-spike probability 1 - level whatever its number of slices.
    """
    c = tracy_widom_quantile(level ** (1 / _check_slices(slices)))
    return mp_bounds(n, m, sigma2)[1] + c * tw_scale(n, m, sigma2)


# ---------------------------------------------------------------------------------------------
# Marchenko-Pastur fit of the bulk, and its spikes
# ---------------------------------------------------------------------------------------------
MP_FIT_ROUNDS = 20  # alternations of "fit the bulk" and "re-cut the spikes" (it settles in 2-4)


@dataclass(frozen=True)
class MPFit:
    """A Marchenko-Pastur law fitted to the bulk of an ESD (Ch. 5), and the spikes beyond it."""

    sigma2: float        # variance of the entries whose MP law fits the bulk (quantile least squares)
    lambda_minus: float  # the fitted law's edges, N sigma2 (1 -+ sqrt(M / N))^2
    lambda_plus: float
    spike_edge: float    # lambda_plus plus the Tracy-Widom margin (``spike_edge``)
    num_spikes: int      # eigenvalues above spike_edge
    ks_distance: float   # Kolmogorov-Smirnov distance between the bulk and the fitted law
    num_bulk: int        # the bulk: the eigenvalues up to spike_edge


def _ks_to_mp(bulk: np.ndarray, lam: np.ndarray, cdf: np.ndarray, sigma2: float) -> float:
    """KS distance between the sorted ``bulk`` and MP(sigma2), which is MP(1), tabulated as
    (lam, cdf), scaled by sigma2: F_sigma2(x) = F_1(x / sigma2)."""
    k, f = len(bulk), np.interp(bulk / sigma2, lam, cdf)
    i = np.arange(k)
    return float(np.maximum(f - i / k, (i + 1) / k - f).max())


def _fit_sigma2(bulk: np.ndarray, lam: np.ndarray, cdf: np.ndarray) -> float:
    """Least-squares slope through the origin of the sorted ``bulk`` against MP(1)'s quantiles.

    MP(sigma2) is MP(1) scaled by sigma2, so the quantile plot of an MP bulk is a line through
    the origin of slope sigma2: sigma2 = sum x_i q_i / sum q_i^2, q_i = F_1^-1((i + 1/2) / k).
    Eigenvalues are rigid (each within about log(M) / M of its quantile, in units of the bulk's
    width), so this recovers the matrix's own variance to about 0.5 % (256 x 40 to 512 x 512
    Gaussian matrices), where the median or a KS fit is off by 1-2 %.
    """
    q = np.interp((np.arange(len(bulk)) + 0.5) / len(bulk), cdf, lam)
    return float(bulk @ q / (q @ q))


def mp_fit(eigenvalues, n: int, m: int, slices: int = 1, level: float = TW_LEVEL) -> MPFit:
    """The MP variance sigma2 that fits the bulk of an ESD, and the spikes beyond its edge (Ch. 5).

    The bulk is the eigenvalues up to ``spike_edge(n, m, sigma2, slices, level)``: the fitted edge
    lambda_+ plus a Tracy-Widom margin, so that a random matrix has no spike with probability
    ``level``. sigma2 is the slope of the bulk's quantile plot against MP(1) (least squares
    through the origin), starting from the sigma2 whose MP median is the eigenvalues' median (which
    a few spikes or a heavy tail barely move, unlike the trace or lambda_max); fit and cut
    alternate until the bulk stops changing. ``ks_distance`` is the bulk's Kolmogorov-Smirnov
    distance to the fitted law: how well MP describes it. ``eigenvalues`` are positive
    (numerical zeros left out); n, m is one slice's shape (N >= M), ``slices`` the number pooled.
    """
    x = _check_eigenvalues(eigenvalues)
    _check_shape(n, m, 1.0)
    lam, cdf = _mp_table(n, m)
    edge = spike_edge(n, m, 1.0, slices, level)  # sigma2 = 1; it scales with sigma2
    sigma2, bulk = float(np.median(x) / np.interp(0.5, cdf, lam)), -1
    for _ in range(MP_FIT_ROUNDS):
        k = int(np.searchsorted(x, sigma2 * edge, side="right"))
        if k == bulk or k < 2:
            break
        sigma2, bulk = _fit_sigma2(x[:k], lam, cdf), k
    k = int(np.searchsorted(x, sigma2 * edge, side="right"))
    d = _ks_to_mp(x[:k], lam, cdf, sigma2) if k else 1.0
    lo, hi = mp_bounds(n, m, sigma2)
    return MPFit(sigma2, lo, hi, sigma2 * edge, len(x) - k, d, k)


# ---------------------------------------------------------------------------------------------
# Likelihood-ratio tests of the power-law tail
# ---------------------------------------------------------------------------------------------
LR_ALTERNATIVES = ("exponential", "lognormal")
_LR_NOISE = 1e-6  # |R| below this (nats, summed over the tail) is the optimizer's noise: no preference


@dataclass(frozen=True)
class LikelihoodRatio:
    """Vuong's test of the power law against an alternative on the same tail (Clauset et al. 2009)."""

    alternative: str    # 'exponential' | 'lognormal'
    statistic: float    # R / (sqrt(n) s), s the std of the pointwise log ratios; > 0: power law
    p_value: float      # erfc(|statistic| / sqrt 2): small when the sign of R is significant
    log_ratio: float    # R = sum over the tail of ln p_PL(x_i) - ln p_alt(x_i)
    parameters: tuple   # the alternative's MLE on the tail: (rate,) or (mu, sigma) of ln x
    num_tail: int       # n, the eigenvalues >= xmin


def _exponential_logpdf(tail: np.ndarray, xmin: float) -> tuple[np.ndarray, tuple]:
    """Exponential truncated to x >= xmin, rate lambda e^(-lambda (x - xmin)); MLE 1 / mean(x - xmin)."""
    rate = 1 / float(np.mean(tail - xmin))
    return math.log(rate) - rate * (tail - xmin), (rate,)


_ALPHA0_RANGE = (-1e3, 200.0)  # standardized truncation points where _moment_ratio is accurate


def _moment_ratio(alpha0: float) -> tuple[float, float]:
    """E[v^2] / E[v]^2 and E[v] / s of v = s (Y - alpha0), Y a standard normal truncated to Y >= alpha0.

    With the inverse Mills ratio l = phi(alpha0) / (1 - Phi(alpha0)), computed stably as
    sqrt(2 / pi) / erfcx(alpha0 / sqrt 2), E[Y] = l and E[Y^2] = 1 + alpha0 l, so
    E[v] / s = l - alpha0 and E[v^2] / s^2 = 1 - alpha0 l + alpha0^2.
    The ratio rises from 1 (alpha0 -> -inf: an untruncated normal) to 2 (alpha0 -> inf: an exponential).
    """
    mills = math.sqrt(2 / math.pi) / special.erfcx(alpha0 / math.sqrt(2))
    h = mills - alpha0
    return (1 - alpha0 * mills + alpha0 * alpha0) / (h * h), h


def _lognormal_logpdf(tail: np.ndarray, xmin: float) -> tuple[np.ndarray | None, tuple]:
    """Lognormal truncated to x >= xmin, fitted by maximum likelihood; None when it is the power law.

    In u = ln(x / xmin) it is a normal N(mu, s^2) truncated to u >= 0: an exponential family in
    (u, u^2), so the log-likelihood is concave and the MLE is the one whose E[u] and E[u^2] match
    the tail's. Only their ratio fixes alpha0 = -mu / s (``_moment_ratio``, monotone), then
    s = mean(u) / (l - alpha0). A ratio >= 2 (no lighter than an exponential in u) has no such
    normal: the supremum is the sigma -> inf limit, a power law with the power law's own MLE, and
    the two cannot be told apart. The density in x is that of u divided by x.
    """
    u = np.log(tail / xmin)
    m1, m2 = float(u.mean()), float((u * u).mean())
    ratio = m2 / (m1 * m1)
    if ratio >= 2:
        return None, (-math.inf, math.inf)
    lo, hi = _ALPHA0_RANGE
    if ratio <= _moment_ratio(lo)[0]:
        alpha0 = lo
    elif ratio >= _moment_ratio(hi)[0]:
        alpha0 = hi  # within 2e-4 of the exponential limit: a valid, nearly optimal lognormal
    else:
        alpha0 = optimize.brentq(lambda a: _moment_ratio(a)[0] - ratio, lo, hi, xtol=1e-12)
    s = m1 / _moment_ratio(alpha0)[1]
    mu = -alpha0 * s
    z = (u - mu) / s
    log_tail_mass = special.log_ndtr(-alpha0)  # ln P(Y >= alpha0)
    logpdf = -np.log(tail) - math.log(s) - 0.5 * math.log(2 * math.pi) - z * z / 2 - log_tail_mass
    return logpdf, (math.log(xmin) + mu, s)


def likelihood_ratio_test(eigenvalues, alternative: str = "exponential",
                          fit: PowerLawFit | None = None) -> LikelihoodRatio:
    """Is the tail a power law rather than ``alternative``? Vuong's test (Clauset et al. 2009, Sec. 5).

    On the tail x >= xmin of ``fit`` (``power_law_fit(eigenvalues)`` by default), the power law
    with exponent alpha and the alternative truncated to x >= xmin and fitted there by maximum
    likelihood give pointwise log-likelihoods l1_i, l2_i. With R = sum (l1_i - l2_i) and s their
    difference's standard deviation, ``statistic`` = R / (sqrt(n) s) is asymptotically standard
    normal when both fit equally well, and p = erfc(|statistic| / sqrt 2) is the probability of
    a |statistic| at least this large then: as ``powerlaw``'s ``distribution_compare(...,
    normalized_ratio=True)``. statistic > 0 with a small p favours the power law, < 0 the
    alternative; a large p says the data cannot tell them apart.
    """
    x = _check_eigenvalues(eigenvalues)
    if alternative not in LR_ALTERNATIVES:
        raise ValueError(f"alternative must be one of {LR_ALTERNATIVES}, got {alternative!r}")
    if fit is None:
        fit = power_law_fit(x)
    elif not isinstance(fit, PowerLawFit):
        raise ValueError(f"fit must be a PowerLawFit (from power_law_fit), got {type(fit).__name__}")
    tail = x[x >= fit.xmin]
    if len(tail) < 2:
        raise ValueError(f"fit's xmin = {fit.xmin:.6g} leaves {len(tail)} eigenvalue(s) in the tail; "
                         "at least 2 are needed")
    _check_not_flat(tail, f"the eigenvalues >= xmin = {fit.xmin:.6g}")
    pl = math.log(fit.alpha - 1) - math.log(fit.xmin) - fit.alpha * np.log(tail / fit.xmin)
    fit_alternative = _exponential_logpdf if alternative == "exponential" else _lognormal_logpdf
    other, params = fit_alternative(tail, fit.xmin)
    diff = np.zeros_like(pl) if other is None else pl - other
    r, s, n = float(diff.sum()), float(diff.std()), len(tail)
    if abs(r) <= _LR_NOISE or s == 0:
        return LikelihoodRatio(alternative, 0.0, 1.0, 0.0, params, n)
    z = r / (math.sqrt(n) * s)
    return LikelihoodRatio(alternative, z, float(special.erfc(abs(z) / math.sqrt(2))), r, params, n)


# ---------------------------------------------------------------------------------------------
# Phases (Martin & Mahoney 2021): the rule and its measurements
# ---------------------------------------------------------------------------------------------
PHASES = ("random-like", "bleeding-out", "bulk+spikes", "bulk-decay", "heavy-tailed", "rank-collapse")
ZERO_EPS = float(np.finfo(np.float32).eps)  # the weights' precision: networks store float32
RANK_COLLAPSE_FRACTION = 0.1  # numerical zeros above this fraction of the ESD: rank-collapse
KS_CRITICAL = 1.358           # Kolmogorov's 5 % point of sqrt(n) D: the bulk fits MP below it / sqrt(n)
SPIKE_FRACTION = 0.1          # at most this fraction of the ESD beyond the edge: "a few spikes"
LR_P_VALUE = 0.1              # Clauset et al.'s significance level for the likelihood-ratio test
ALPHA_HEAVY_TAILED = 4.0      # alpha <= 4: moderately (2-4) or very (< 2) heavy-tailed ESD


def zero_tolerance(lambda_max: float, n: int, m: int, dtype: torch.dtype = torch.float64) -> float:
    """Eigenvalues of W^T W at or below this are numerical zeros: W's rank deficiency.

    numpy's ``matrix_rank`` tolerance for float32 weights, singular values below
    sigma_max N eps_32, i.e. lambda <= lambda_max (N eps_32)^2; an eigensolver in float32 resolves
    W^T W only to about M eps_32 lambda_max, which is then the floor. Relative to lambda_max, not
    absolute (as EVALS_THRESH): a zero is zero at any scale of the weights.
    """
    return lambda_max * max((n * ZERO_EPS) ** 2, m * torch.finfo(dtype).eps)


@dataclass(frozen=True)
class Diagnosis:
    """One ESD's phase and the measurements it was decided from (``diagnose``)."""

    phase: str                   # one of PHASES
    rank_loss: int               # numerical zeros (``zero_tolerance``) among the eigenvalues
    num_evals: int               # eigenvalues of the ESD
    mp: MPFit                    # MP fit of the bulk (without the zeros) and its spikes
    power_law: PowerLawFit       # power-law fit of the tail (of the eigenvalues > EVALS_THRESH)
    exponential: LikelihoodRatio  # power law against an exponential tail
    lognormal: LikelihoodRatio   # power law against a lognormal tail
    shuffled: "Diagnosis | None" = None  # the same for W's entries shuffled (``diagnose_matrix``)

    @property
    def num_spikes(self) -> int:
        return self.mp.num_spikes

    def row(self) -> dict:
        """``analyze``'s PHASE_COLUMNS, and its CONTROL_COLUMNS when there is a shuffled control."""
        mp, e, g = self.mp, self.exponential, self.lognormal
        row = {"phase": self.phase, "num_spikes": mp.num_spikes, "rank_loss": self.rank_loss,
               "sigma2_mp": mp.sigma2, "lambda_plus": mp.lambda_plus, "spike_edge": mp.spike_edge,
               "mp_ks": mp.ks_distance, "lr_exponential": e.statistic, "p_exponential": e.p_value,
               "lr_lognormal": g.statistic, "p_lognormal": g.p_value}
        if self.shuffled is not None:
            row.update(phase_shuffled=self.shuffled.phase, num_spikes_shuffled=self.shuffled.num_spikes,
                       alpha_shuffled=self.shuffled.power_law.alpha)
        return row


def phase_of(rank_loss: int, num_evals: int, mp: MPFit, fit: PowerLawFit,
             exponential: LikelihoodRatio) -> str:
    """Martin & Mahoney's phase of an ESD from its measurements (``diagnose`` states the rule)."""
    if rank_loss > RANK_COLLAPSE_FRACTION * num_evals:
        return "rank-collapse"
    mp_bulk = mp.ks_distance <= KS_CRITICAL / math.sqrt(mp.num_bulk) and mp.num_spikes <= mp.num_bulk
    if mp_bulk and mp.num_spikes <= SPIKE_FRACTION * num_evals:
        return "random-like" if mp.num_spikes == 0 else "bulk+spikes"
    power_law = exponential.statistic > 0 and exponential.p_value < LR_P_VALUE
    if power_law and fit.alpha <= ALPHA_HEAVY_TAILED:
        return "heavy-tailed"
    return "bleeding-out" if mp_bulk else "bulk-decay"


def diagnose(eigenvalues, n: int, m: int, slices: int = 1, dtype: torch.dtype = torch.float64,
             fit: PowerLawFit | None = None) -> Diagnosis:
    """The phase of an ESD among Martin & Mahoney's 5+1 phases of training (2019; JMLR 2021).

    ``eigenvalues`` are the pooled ESD of ``slices`` matrices of shape (n, m), n >= m (``esd``),
    computed in ``dtype``; ``fit`` is their power-law fit if already done (``power_law_fit`` of
    the eigenvalues > EVALS_THRESH, as ``analyze``'s alpha). The rule, in order:

    1. ``rank-collapse``: more than RANK_COLLAPSE_FRACTION = 10 % of the eigenvalues are numerical
       zeros (``zero_tolerance``). A random N x M matrix, N >= M, has full rank; a mass at zero is
       the over-regularized end of the phases. Fewer zeros (a few dead or duplicated units) are
       counted in ``rank_loss`` and the rest of the spectrum decides.
    2. The MP law is fitted to the nonzero eigenvalues (``mp_fit``); the bulk *fits MP* when its
       KS distance is at most KS_CRITICAL / sqrt(n_bulk), Kolmogorov's 5 % critical value for
       n_bulk iid draws, and it holds at least half of them. Eigenvalues repel and stray from
       their quantiles far less than iid draws (about 1 / M against 1 / sqrt M), so a random
       bulk passes with room to spare and only a visibly deformed one fails; past half, the fit,
       anchored at the median (whose breakdown point is 50 %), no longer describes a bulk but a
       minority of the spectrum. If it fits and at most SPIKE_FRACTION = 10 % of the
       eigenvalues lie beyond the Tracy-Widom-widened edge: none, ``random-like``; some,
       ``bulk+spikes`` (a low-rank signal on a random bulk, the spiked-covariance model, whose
       rank is small against M).
    3. ``heavy-tailed``: the tail's power law beats an exponential tail (likelihood-ratio
       statistic > 0 with p < LR_P_VALUE = 0.1, Clauset et al.'s level) and alpha <=
       ALPHA_HEAVY_TAILED = 4: Martin & Mahoney's moderately (2 < alpha < 4) and very heavy-tailed
       classes (alpha < 2; alpha = 1 + mu / 2 for entries with tail index mu < 2), whose ESDs have
       no MP edge. It is tested after 2 because a few strong spikes also make a short power law.
    4. Otherwise, with an MP bulk, ``bleeding-out`` (more eigenmass leaves the bulk than a few
       spikes, without a heavy tail); without one, ``bulk-decay`` (a deformed bulk whose tail is
       weak, alpha > 4 as in their weakly heavy-tailed class, or not a significant power law).

    The lognormal test is reported, not used: a lognormal with large sigma imitates a power law,
    so it rarely decides anything (Clauset et al. 2009, Sec. 5).
    """
    x = np.sort(np.asarray(eigenvalues, dtype=np.float64).ravel())
    _check_shape(n, m, 1.0)
    if x.size != _check_slices(slices) * m or not np.all(np.isfinite(x)) or x[0] < 0:
        raise ValueError(f"eigenvalues must be the {slices} * {m} finite nonnegative eigenvalues of the "
                         f"pooled ESD (slices * M), got {x.size} values")
    nonzero = x[x > zero_tolerance(float(x[-1]), n, m, dtype)]
    positive = x[x > EVALS_THRESH]
    if len(nonzero) < 2 or len(positive) < 2:
        raise ValueError(f"eigenvalues must hold at least 2 above the numerical zero and above "
                         f"EVALS_THRESH = {EVALS_THRESH:g}, got {len(nonzero)} and {len(positive)}")
    fit = power_law_fit(positive) if fit is None else fit
    mp = mp_fit(nonzero, n, m, slices)
    exponential = likelihood_ratio_test(positive, "exponential", fit)
    lognormal = likelihood_ratio_test(positive, "lognormal", fit)
    rank_loss = x.size - len(nonzero)
    return Diagnosis(phase_of(rank_loss, x.size, mp, fit, exponential), rank_loss, x.size, mp, fit,
                     exponential, lognormal)


def spiked_null(eigenvalues, n: int, m: int, sigma2: float, num_spikes: int, slices: int = 1,
                seed: int = 0) -> np.ndarray:
    """A bulk+spikes surrogate of an ESD: a random bulk that carries the ESD's own spikes (Ch. 5).

    The pooled ESD of ``slices`` Gaussian (n, m) matrices of entry variance ``sigma2`` (the MP
    fit's ``sigma2_mp``; torch generator ``seed``), with its ``num_spikes`` largest eigenvalues
    replaced by the ``num_spikes`` largest of ``eigenvalues``: the spiked-covariance model
    that ``bulk+spikes`` names. A statistic of the tail (such as alpha) that the surrogate
    reproduces comes from the spikes on a Marchenko-Pastur bulk, not from a heavy-tailed bulk.
    """
    x = np.sort(np.asarray(eigenvalues, dtype=np.float64).ravel())
    _check_shape(n, m, sigma2)
    slices = _check_slices(slices)
    if x.size != slices * m:
        raise ValueError(f"eigenvalues must be the {slices} * {m} eigenvalues of the pooled ESD, "
                         f"got {x.size}")
    if not (isinstance(num_spikes, numbers.Integral) and 0 <= num_spikes <= x.size):
        raise ValueError(f"num_spikes must be an integer in [0, {x.size}], got {num_spikes!r}")
    g = torch.Generator().manual_seed(int(seed))
    w = math.sqrt(sigma2) * torch.randn(slices, n, m, generator=g, dtype=torch.float64)
    bulk = esd(w)
    return np.sort(np.concatenate([bulk[:x.size - num_spikes], x[x.size - num_spikes:]]))


def shuffle_entries(matrices: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """The entries of ``matrices`` in a random order (numpy ``default_rng(seed)``), same shape.

    The randomized control (Martin & Mahoney 2021 compare each layer's ESD with that of its
    elementwise-randomized W_rand): a permutation keeps the entries' distribution and destroys
    their correlations, so a learned low-rank signal goes back to MP while a matrix of iid
    heavy-tailed entries stays heavy-tailed. A conv layer's slices are shuffled together.
    """
    if not isinstance(matrices, torch.Tensor):
        raise ValueError(f"matrices must be a torch.Tensor, got {type(matrices).__name__}")
    if not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    perm = torch.from_numpy(np.random.default_rng(int(seed)).permutation(matrices.numel()))
    return matrices.detach().reshape(-1)[perm.to(matrices.device)].reshape(matrices.shape)


def diagnose_matrix(W, seed: int = 0, controls: bool = True,
                    dtype: torch.dtype = torch.float64) -> Diagnosis:
    """``diagnose`` of a matrix W (N x M, or a stack (slices, N, M)), with its shuffled control.

    W (a tensor or an array) is transposed if needed so that N >= M, as ``layer_matrices`` does;
    with ``controls``, ``shuffled`` holds the diagnosis of ``shuffle_entries(W, seed)``.
    ``analyze`` gives a Linear layer the same diagnosis as ``diagnose_matrix(layer.weight, seed)``.
    """
    w = torch.as_tensor(W) if isinstance(W, np.ndarray) else W
    if not isinstance(w, torch.Tensor) or w.dim() not in (2, 3) or not w.is_floating_point():
        raise ValueError("W must be a 2-D (N, M) or 3-D (slices, N, M) floating-point tensor or array, "
                         f"got {getattr(W, 'shape', type(W).__name__)}")
    w = w.detach()[None] if w.dim() == 2 else w.detach()
    w = w.mT if w.shape[1] < w.shape[2] else w
    slices, n, m = w.shape
    result = diagnose(esd(w, dtype), n, m, slices, dtype)
    if controls:
        shuffled = diagnose(esd(shuffle_entries(w, seed), dtype), n, m, slices, dtype)
        result = dataclasses.replace(result, shuffled=shuffled)
    return result


# ---------------------------------------------------------------------------------------------
# The analyzer
# ---------------------------------------------------------------------------------------------
def _layer_row(layer: LayerMatrices, evals: np.ndarray, dtype: torch.dtype, conv2d_norm: bool,
               controls: bool, seed: int) -> dict:
    """One row of ``analyze``: the norms of the ESD and its power-law fit, its phase and control."""
    fit = power_law_fit(evals[evals > EVALS_THRESH])
    lambda_max, total = float(evals[-1]), float(evals.sum())
    slices, n, m = layer.shape
    row = {"name": layer.name, "kind": layer.kind, "N": n, "M": m, "slices": slices,
           "num_evals": int(evals.size), "lambda_max": lambda_max, "alpha": fit.alpha,
           "alpha_weighted": fit.alpha * math.log10(lambda_max), "log_norm": math.log10(total),
           "log_spectral_norm": math.log10(lambda_max), "stable_rank": total / lambda_max,
           "xmin": fit.xmin, "num_tail": fit.num_tail, "ks_distance": fit.ks_distance,
           "sigma": fit.sigma}
    diagnosis = diagnose(evals, n, m, slices, dtype, fit)
    if controls:  # the same ESD and fits of the layer's entries shuffled (one more eigvalsh)
        shuffled = _layer_esd(dataclasses.replace(layer, matrices=shuffle_entries(layer.matrices, seed)),
                              dtype, conv2d_norm)
        diagnosis = dataclasses.replace(diagnosis, shuffled=diagnose(shuffled, n, m, slices, dtype))
    return {**row, **diagnosis.row()}


def _layer_esd(layer: LayerMatrices, dtype: torch.dtype, conv2d_norm: bool) -> np.ndarray:
    scale = 0.5 if conv2d_norm and layer.kind == "conv2d" else 1.0  # weightwatcher's conv2d_norm
    return scale * esd(layer.matrices, dtype)


def _check_min_evals(min_evals) -> int:
    if not (isinstance(min_evals, int) and min_evals >= 2):
        raise ValueError(f"min_evals must be an integer >= 2, got {min_evals!r}")
    return min_evals


def layer_eigenvalues(model: nn.Module, min_evals: int = 50, dtype: torch.dtype = torch.float64,
                      conv2d_norm: bool = True) -> dict[str, np.ndarray]:
    """The pooled ESD of every layer with at least ``min_evals`` eigenvalues, by layer name (Ch. 5).

    A Conv2d's eigenvalues are halved when ``conv2d_norm`` is set, as weightwatcher does.
    """
    _check_min_evals(min_evals)
    return {layer.name: _layer_esd(layer, dtype, conv2d_norm)
            for layer in layer_matrices(model) if layer.num_evals >= min_evals}


def analyze(model: nn.Module, min_evals: int = 50, dtype: torch.dtype = torch.float64,
            conv2d_norm: bool = True, controls: bool = True, seed: int = 0) -> pd.DataFrame:
    """Per-layer ESD metrics of ``model``'s weights as weightwatcher's ``analyze()``, and phases (Ch. 5).

    One row per Linear / Conv1d / Conv2d layer: ``alpha`` (power-law fit of the ESD tail),
    ``alpha_weighted`` = alpha * log10(lambda_max), ``lambda_max``, ``log_norm`` =
    log10 sum lambda, ``log_spectral_norm`` = log10 lambda_max, ``stable_rank`` =
    sum lambda / lambda_max, ``num_evals``, ``xmin`` and the fit's details (METRIC_COLUMNS).

    PHASE_COLUMNS (``diagnose``, which states the rule): ``phase``, one of PHASES;
    ``num_spikes``, eigenvalues above ``spike_edge`` = the fitted MP edge ``lambda_plus`` plus a
    Tracy-Widom margin; ``sigma2_mp``, the MP variance fitted to the bulk, and ``mp_ks``, the
    bulk's KS distance to that law; ``rank_loss``, numerical zeros; ``lr_exponential`` /
    ``p_exponential`` and ``lr_lognormal`` / ``p_lognormal``, the normalized likelihood ratio
    of the power-law tail against each alternative (> 0 favours the power law) and its p-value.
    With ``controls`` (CONTROL_COLUMNS), the layer's entries shuffled (``shuffle_entries`` with
    ``seed``, the same for every layer) and diagnosed again: ``phase_shuffled``,
    ``num_spikes_shuffled``, ``alpha_shuffled``; it costs one more eigendecomposition per layer.

    Layers with fewer than ``min_evals`` eigenvalues are skipped; ``df.attrs["skipped"]`` lists
    them with the reason. Uses only the weights (no data); the model is not modified.
    """
    return analyze_with_eigenvalues(model, min_evals, dtype, conv2d_norm, controls, seed)[0]


def analyze_with_eigenvalues(model: nn.Module, min_evals: int = 50, dtype: torch.dtype = torch.float64,
                             conv2d_norm: bool = True, controls: bool = True,
                             seed: int = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """``analyze`` and ``layer_eigenvalues`` of the same model from one eigendecomposition per layer."""
    _check_min_evals(min_evals)
    if not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    rows, skipped, eigenvalues = [], [], {}
    for layer in layer_matrices(model):
        evals = _layer_esd(layer, dtype, conv2d_norm) if layer.num_evals >= min_evals else None
        if evals is not None:
            eigenvalues[layer.name] = evals
        if evals is None:
            reason = f"{layer.num_evals} eigenvalues < min_evals = {min_evals}"
        elif np.count_nonzero(evals > EVALS_THRESH) < 2:
            reason = f"fewer than 2 eigenvalues above {EVALS_THRESH:g}"
        elif np.count_nonzero(evals > zero_tolerance(float(evals[-1]), *layer.shape[1:], dtype)) < 2:
            reason = "numerical rank below 2 (see zero_tolerance)"
        else:
            try:
                rows.append(_layer_row(layer, evals, dtype, conv2d_norm, controls, seed))
                continue
            except FlatSpectrumError as err:  # an identity or orthogonal layer: no tail to fit
                reason = f"flat spectrum: {err}"
        skipped.append({"name": layer.name, "kind": layer.kind, "reason": reason})
    columns = COLUMNS if controls else METRIC_COLUMNS + PHASE_COLUMNS
    df = pd.DataFrame(rows, columns=list(columns))
    df.attrs["skipped"] = skipped
    return df, eigenvalues


def summary(df: pd.DataFrame) -> dict:
    """Model-level means of ``analyze``'s columns; ``alpha_hat`` = mean_l alpha_l log10 lambda_max,l.

    alpha-hat is Martin & Mahoney's weighted alpha (Ch. 5). Also the mean ``alpha``,
    ``log_norm``, ``log_spectral_norm`` and ``stable_rank``, and the layers used and skipped.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be the DataFrame returned by analyze, got {type(df).__name__}")
    skipped = df.attrs.get("skipped", [])
    if len(df) == 0:
        raise ValueError(f"no layer was analyzed ({len(skipped)} skipped: "
                         f"{[s['reason'] for s in skipped]}); lower min_evals")
    for k in ("alpha", "alpha_weighted", "log_norm", "log_spectral_norm", "stable_rank"):
        names = df["name"] if "name" in df.columns else df.index.to_series()
        bad = names[~np.isfinite(df[k].to_numpy(dtype=float))].tolist()
        if bad:
            raise ValueError(f"df's column {k!r} is NaN or inf for the layer(s) {bad}: a mean over "
                             "layers would hide it (analyze skips flat spectra itself)")
    means = {k: float(df[k].mean()) for k in ("alpha", "log_norm", "log_spectral_norm", "stable_rank")}
    return {"alpha_hat": float(df["alpha_weighted"].mean()), **means,
            "num_layers": int(len(df)), "num_skipped": len(skipped)}


def pretrained_summary(name: str, min_evals: int = 50) -> dict:
    """``summary`` of torchvision's ImageNet-pretrained ``name`` (e.g. 'vgg16'), with its top-1.

    The paper's experiment (Ch. 5): alpha-hat against the top-1 accuracy that torchvision
    records in the weights' metadata (the original IMAGENET1K_V1 weights). Needs torchvision
    and a network connection for the first download; raises RuntimeError saying which is missing
    (or that the installed torchvision does not match torch).
    """
    try:
        import torchvision
    except ImportError as err:
        raise RuntimeError("torchvision is not installed (Colab has it; locally, pip install a "
                           "torchvision that matches your torch)") from err
    except RuntimeError as err:  # e.g. "operator torchvision::nms does not exist": a broken build
        raise RuntimeError(f"torchvision is installed but cannot be imported ({err}): it does not "
                           f"match the installed torch {torch.__version__}; pip install the "
                           "torchvision built for this torch") from err
    weights = torchvision.models.get_model_weights(name).IMAGENET1K_V1  # ValueError: unknown name
    try:
        model = torchvision.models.get_model(name, weights=weights)
    except OSError as err:  # urllib's URLError and socket errors: no network
        raise RuntimeError(f"could not download the weights of {name}: {err}") from err
    top1 = float(weights.meta["_metrics"]["ImageNet-1K"]["acc@1"])
    # the summary uses no phase, so the shuffled controls (one more eigvalsh per layer) are skipped
    return {"model": name, "top1": top1, **summary(analyze(model, min_evals, controls=False))}
