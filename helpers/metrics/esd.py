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

Speed: eigenvalues come from ``torch.linalg.eigvalsh`` of the smaller Gram matrix W^T W,
batched over a conv layer's slices (float64 by default), instead of an SVD per slice. The KS
distances of the x_min candidates are vectorized: lower bounds for all candidates at once from
a subset of the table's columns, then exact distances for the few the bounds do not rule out
(the same x_min and alpha as the full table, in a fraction of the time).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..safety import check_model

EVALS_THRESH = 1e-5  # weightwatcher's numerical zero: smaller eigenvalues are not fitted
_KS_BLOCK = 2 ** 18  # entries of one block of the (candidates x eigenvalues) KS table (2 MiB)
COLUMNS = ("name", "kind", "N", "M", "slices", "num_evals", "lambda_max", "alpha", "alpha_weighted",
           "log_norm", "log_spectral_norm", "stable_rank", "xmin", "num_tail", "ks_distance", "sigma")
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
    the smaller Gram matrix, computed in ``dtype`` on the matrices' device, clipped at zero.
    """
    if not isinstance(matrices, torch.Tensor) or matrices.dim() not in (2, 3):
        raise ValueError("matrices must be a 2-D (N, M) or 3-D (slices, N, M) tensor, got "
                         f"{getattr(matrices, 'shape', type(matrices).__name__)}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    w = matrices.detach()
    w = (w[None] if w.dim() == 2 else w).to(dtype, memory_format=torch.contiguous_format)  # one copy
    w = w.mT if w.shape[1] < w.shape[2] else w
    evals = torch.linalg.eigvalsh(w.mT @ w).clamp_min(0)  # (slices, M): Gram of the short side
    return np.sort(evals.flatten().cpu().numpy().astype(np.float64))


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
    q = _check_shape(n, m, sigma2)
    lo, hi = mp_bounds(n, m, sigma2)
    t = np.linspace(0, np.pi, points)
    lam = lo + (hi - lo) * (1 - np.cos(t)) / 2
    with np.errstate(divide="ignore", invalid="ignore"):  # t = 0 with lambda_- = 0: the limit is finite
        f = ((hi - lo) / 2 * np.sin(t)) ** 2 / (2 * np.pi * sigma2 * q * n * lam)
    f[0] = f[1] if not np.isfinite(f[0]) else f[0]
    cdf = np.concatenate([[0.0], np.cumsum((f[1:] + f[:-1]) / 2 * np.diff(t))])
    return np.interp(np.asarray(x, dtype=np.float64), lam, cdf / cdf[-1], left=0.0, right=1.0)


# ---------------------------------------------------------------------------------------------
# The analyzer
# ---------------------------------------------------------------------------------------------
def _layer_row(layer: LayerMatrices, evals: np.ndarray) -> dict:
    """One row of ``analyze``: the norms of the ESD and its power-law fit."""
    fit = power_law_fit(evals[evals > EVALS_THRESH])
    lambda_max, total = float(evals[-1]), float(evals.sum())
    slices, n, m = layer.shape
    return {"name": layer.name, "kind": layer.kind, "N": n, "M": m, "slices": slices,
            "num_evals": int(evals.size), "lambda_max": lambda_max, "alpha": fit.alpha,
            "alpha_weighted": fit.alpha * math.log10(lambda_max), "log_norm": math.log10(total),
            "log_spectral_norm": math.log10(lambda_max), "stable_rank": total / lambda_max,
            "xmin": fit.xmin, "num_tail": fit.num_tail, "ks_distance": fit.ks_distance,
            "sigma": fit.sigma}


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
            conv2d_norm: bool = True) -> pd.DataFrame:
    """Per-layer ESD metrics of ``model``'s weights, as weightwatcher's ``analyze()`` (Ch. 5).

    One row per Linear / Conv1d / Conv2d layer: ``alpha`` (power-law fit of the ESD tail),
    ``alpha_weighted`` = alpha * log10(lambda_max), ``lambda_max``, ``log_norm`` =
    log10 sum lambda, ``log_spectral_norm`` = log10 lambda_max, ``stable_rank`` =
    sum lambda / lambda_max, ``num_evals``, ``xmin`` and the fit's details. Layers with fewer
    than ``min_evals`` eigenvalues are skipped; ``df.attrs["skipped"]`` lists them with the
    reason. Uses only the weights (no data); the model is not modified.
    """
    _check_min_evals(min_evals)
    rows, skipped = [], []
    for layer in layer_matrices(model):
        evals = _layer_esd(layer, dtype, conv2d_norm) if layer.num_evals >= min_evals else None
        if evals is None:
            reason = f"{layer.num_evals} eigenvalues < min_evals = {min_evals}"
        elif np.count_nonzero(evals > EVALS_THRESH) < 2:
            reason = f"fewer than 2 eigenvalues above {EVALS_THRESH:g}"
        else:
            try:
                rows.append(_layer_row(layer, evals))
                continue
            except FlatSpectrumError as err:  # an identity or orthogonal layer: no tail to fit
                reason = f"flat spectrum: {err}"
        skipped.append({"name": layer.name, "kind": layer.kind, "reason": reason})
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    df.attrs["skipped"] = skipped
    return df


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
    return {"model": name, "top1": top1, **summary(analyze(model, min_evals))}
