"""Loss-landscape geometry of Chapter 4 (Huang et al. 2019; Li et al. 2018).

- ``filter_normalized_direction``: a random direction scaled filter by filter to the weights;
- ``loss_slice``: the loss along one or two such directions (1-D and 2-D slices);
- ``top_hessian_eigenvalue`` (Lanczos, stopped on the residual) and ``hessian_trace``
  (Hutchinson, with its standard error), both from Hessian-vector products that reuse one
  first-order graph;
- ``basin_radius`` and ``log10_basin_volume``: how far the loss stays low along random
  directions, and the volume of the star-shaped basin those radii describe;
- ``pac_bayes_sigma``: the largest random perturbation the train error tolerates (Jiang et
  al. 2020's PAC-Bayesian flatness, used in Ch. 6), and ``worst_case_alpha``, the largest box
  whose worst perturbation it tolerates (their worst-case sharpness, after Keskar et al. 2017).

Nothing here changes a model: perturbed weights are evaluated with ``torch.func.functional_call``,
and the model's train/eval mode is restored. Everything is evaluated in eval mode.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from ..safety import batched_loss_and_accuracy, check_model, check_xy, eval_mode, model_device

Direction = Mapping[str, torch.Tensor]  # parameter name -> tensor of that parameter's shape


def _named_params(model: nn.Module) -> dict[str, torch.Tensor]:
    check_model(model)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError("model has no trainable parameters")
    return params


# --- directions and slices (Li et al. 2018, Sec. 4) -----------------------------------------

def filter_normalized_direction(model: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """A Gaussian direction d with d_f <- d_f ||w_f|| / ||d_f|| for every filter f (Li et al. 2018).

    A filter is one slice along dim 0 of a weight (an output unit of a Linear layer, an output
    channel of a convolution). 1-D tensors (biases, norm layers) get a zero direction. The draw
    is made on the CPU from ``seed``, so the direction does not depend on the device.
    """
    g = torch.Generator().manual_seed(seed)
    direction = {}
    for name, p in _named_params(model).items():
        d = torch.randn(p.shape, generator=g, dtype=torch.float32).to(p.dtype)
        if p.ndim <= 1:
            d = torch.zeros_like(d)
        else:
            w_norm = p.detach().cpu().reshape(len(p), -1).norm(dim=1, keepdim=True)  # (filters, 1)
            rows = d.reshape(len(p), -1)
            d = (rows * w_norm / (rows.norm(dim=1, keepdim=True) + 1e-10)).reshape(p.shape)
        direction[name] = d.to(p.device)
    return direction


def direction_dim(direction: Direction) -> int:
    """How many coordinates a direction moves: its non-zero entries (the basin's dimension)."""
    return int(sum(int((d != 0).sum()) for d in direction.values()))


def _shifted(base: dict, directions: Sequence[Direction], steps: Sequence[float]) -> dict:
    out = dict(base)
    for direction, a in zip(directions, steps):
        for name, d in direction.items():
            out[name] = out[name] + a * d
    return out


@dataclass(frozen=True)
class LossSlice:
    """The loss (and accuracy) at theta + a d1 (1-D) or theta + a d1 + b d2 (2-D)."""

    coords: np.ndarray    # (m,) step sizes a (and b), in units of the direction
    loss: np.ndarray      # (m,) or (m, m); loss[i, j] is at a = coords[i], b = coords[j]
    accuracy: np.ndarray  # same shape as loss (NaN when the output is not a class score)

    def width(self, threshold: float) -> float:
        """Length of the interval around a = 0 where the 1-D slice stays below ``threshold``.

        Crossings are linearly interpolated; a side that never crosses counts to the end of
        ``coords``, so the width is then a lower bound.
        """
        if self.loss.ndim != 1:
            raise ValueError("width is defined for 1-D slices only")
        c, l = self.coords, self.loss
        i0 = int(np.argmin(np.abs(c)))
        if not l[i0] < threshold:
            raise ValueError(f"threshold {threshold} is not above the loss at a = 0 ({l[i0]:.3g})")
        edges = []
        for step in (1, -1):
            i = i0
            while 0 <= i + step < len(c) and l[i + step] < threshold:
                i += step
            j = i + step
            edges.append(c[i] if not 0 <= j < len(c) else
                         c[i] + (c[j] - c[i]) * (threshold - l[i]) / (l[j] - l[i]))
        return float(edges[0] - edges[1])


def loss_slice(model: nn.Module, directions, coords, X: torch.Tensor, y: torch.Tensor,
               loss_fn: Callable | None = None) -> LossSlice:
    """L(theta + a d1) over ``coords`` (one direction), or L(theta + a d1 + b d2) on the grid
    coords x coords (two directions): the filter-normalized slices of Li et al. (2018), Ch. 4.
    """
    check_model(model)
    check_xy(X, y)
    loss_fn = loss_fn or F.cross_entropy  # a batch mean: batched_loss_and_accuracy rescales it
    directions = [directions] if isinstance(directions, Mapping) else list(directions)
    if len(directions) not in (1, 2):
        raise ValueError(f"directions must be one direction or a sequence of 1 or 2, got {len(directions)}")
    coords = np.asarray(coords, dtype=float)
    if coords.ndim != 1 or len(coords) == 0 or not np.all(np.isfinite(coords)):
        raise ValueError("coords must be a non-empty 1-D array of finite step sizes")
    base = {n: p.detach() for n, p in _named_params(model).items()}
    grid = [(a,) for a in coords] if len(directions) == 1 else [(a, b) for a in coords for b in coords]
    values = [batched_loss_and_accuracy(model, X, y, loss_fn, params=_shifted(base, directions, s))
              for s in grid]
    shape = (len(coords),) * len(directions)
    loss, acc = (np.array(v, dtype=float).reshape(shape) for v in zip(*values))
    return LossSlice(coords, loss, acc)


# --- curvature: Hessian-vector products ------------------------------------------------------

def _first_order_graph(model, loss_fn, X, y):
    """The gradient of the loss with its graph kept, so each H v costs one more backward pass."""
    params = list(_named_params(model).values())
    device = model_device(model)
    loss = (loss_fn or F.cross_entropy)(model(X.to(device)), y.to(device))
    grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    pairs = [(p, g) for p, g in zip(params, grads) if g is not None and g.requires_grad]
    if not pairs:
        raise ValueError("the loss has no second derivative with respect to the parameters")
    return [p for p, _ in pairs], [g for _, g in pairs]


def _hvp(params, grads, v):
    hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True, allow_unused=True)
    return [torch.zeros_like(p) if h is None else h for p, h in zip(params, hv)]


def _dot(a, b) -> torch.Tensor:
    return sum((x * y).sum() for x, y in zip(a, b))


def _random_like(params, g, rademacher: bool):
    if rademacher:
        return [(2 * torch.randint(0, 2, p.shape, generator=g) - 1).to(p) for p in params]
    return [torch.randn(p.shape, generator=g).to(p) for p in params]


@dataclass(frozen=True)
class TopEigenvalue:
    """The top Hessian eigenvalue from Lanczos, and how it was obtained.

    ``iterations`` equals ``hvps``: it is kept, read-only, for callers written against the power
    iteration this replaced (it is set from ``hvps`` and cannot be passed; ``dataclasses.asdict``
    still lists it, so records that read ``["iterations"]`` keep working).
    """

    eigenvalue: float  # the largest Ritz value: the largest *algebraic* eigenvalue of H
    hvps: int          # Hessian-vector products used (one backward pass each)
    converged: bool    # the relative residual fell to tol or below within max_iter products
    residual: float    # ||H v - lambda v|| / |lambda| of the returned Ritz pair (v a unit vector)
    iterations: int = field(init=False, repr=False, compare=False)  # = hvps (compatibility)

    def __post_init__(self):
        object.__setattr__(self, "iterations", self.hvps)


PowerIteration = TopEigenvalue  # the old name of the result type (helpers.zoo annotates with it)


def _flat_codec(params, device: torch.device):
    """(flatten, unflatten) between parameter lists and one float64 vector on ``device``."""
    sizes = [p.numel() for p in params]

    def flatten(tensors) -> torch.Tensor:
        return torch.cat([t.detach().reshape(-1).to(device=device, dtype=torch.float64) for t in tensors])

    def unflatten(flat: torch.Tensor) -> list[torch.Tensor]:
        return [chunk.reshape(p.shape).to(p) for chunk, p in zip(torch.split(flat, sizes), params)]

    return flatten, unflatten


def _lanczos_top(matvec: Callable[[torch.Tensor], torch.Tensor], start: torch.Tensor, tol: float,
                 max_iter: int) -> TopEigenvalue:
    """Lanczos with full reorthogonalization for the largest eigenvalue of a symmetric operator.

    After k products, H Q_k = Q_k T_k + beta_k q_{k+1} e_k^T with Q_k orthonormal (kept so by
    two passes of classical Gram-Schmidt against every earlier basis vector); the top Ritz pair
    (theta, Q_k s) of the tridiagonal T_k has residual ||H Q_k s - theta Q_k s|| = beta_k |s_k|,
    known without another product. Stops when beta_k |s_k| <= tol |theta|, or when the Krylov
    space is invariant (beta_k = 0: theta is then an exact eigenvalue of H).
    """
    n = start.numel()
    basis = torch.empty((min(max_iter, n, 32), n), dtype=torch.float64, device=start.device)
    alphas, betas = [], []
    q = start / torch.linalg.vector_norm(start)
    theta, residual = math.nan, math.inf
    for k in range(1, max_iter + 1):
        if k > len(basis):  # grow the basis buffer by doubling, at most to max_iter (or n) rows
            grown = torch.empty((min(2 * len(basis), max_iter, n), n), dtype=basis.dtype, device=basis.device)
            grown[:k - 1] = basis[:k - 1]
            basis = grown
        basis[k - 1] = q
        w = matvec(q)
        Q = basis[:k]
        h = Q @ w  # h[-1] = q^T H q (alpha_k); h[-2] = beta_{k-1}; the rest ~ 0 (lost orthogonality)
        w = w - Q.T @ h
        h2 = Q @ w  # the second pass ("twice is enough", Kahan-Parlett)
        w = w - Q.T @ h2
        alphas.append(float(h[-1] + h2[-1]))
        beta = float(torch.linalg.vector_norm(w))
        if not (math.isfinite(alphas[-1]) and math.isfinite(beta)):  # a NaN or inf in H v
            return TopEigenvalue(math.nan, k, False, math.nan)
        T = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
        values, vectors = np.linalg.eigh(T)
        theta, s_last = float(values[-1]), float(vectors[-1, -1])
        scale = max(abs(a) for a in alphas) + (max(betas) if betas else 0.0)
        invariant = k == n or beta <= 1e-14 * max(scale, 1e-300)  # H maps the Krylov space into itself
        absolute = 0.0 if invariant else beta * abs(s_last)
        residual = absolute / abs(theta) if theta != 0 else (0.0 if absolute == 0 else math.inf)
        if invariant or residual <= tol:
            return TopEigenvalue(theta, k, True, residual)
        betas.append(beta)
        q = w / beta
    return TopEigenvalue(theta, max_iter, False, residual)


def top_hessian_eigenvalue(model: nn.Module, loss_fn: Callable | None, X: torch.Tensor,
                           y: torch.Tensor, tol: float = 1e-3, max_iter: int = 100,
                           seed: int = 0) -> TopEigenvalue:
    """lambda_max of H = d^2 L / d theta^2 by Lanczos on Hessian-vector products (Ch. 4).

    L = ``loss_fn(model(X), y)`` (default: cross-entropy) on the whole of (X, y), in eval mode.
    One first-order graph is built and reused for every product H v; the start vector is
    Gaussian, drawn from ``seed`` (the same draw power iteration used). The Krylov basis is kept
    in float64 (on the CPU for an MPS model), fully reorthogonalized: memory up to
    ``max_iter`` x parameters x 8 bytes, work per product a backward pass plus O(k x parameters).

    Returns the largest *algebraic* eigenvalue (the largest Ritz value). The power iteration
    this replaced returned the eigenvalue of largest magnitude; the two agree at a minimum, where
    H is positive semi-definite, but away from one a negative eigenvalue can be the larger in
    magnitude, and then this returns the largest positive (or least negative) one instead.

    ``tol`` is a relative tolerance on the residual: it stops once
    ||H v - lambda v|| <= tol |lambda| for the Ritz pair (lambda, v), ||v|| = 1, or after
    ``max_iter`` products (``converged`` False). The residual bounds the eigenvalue's error:
    some eigenvalue of H lies within tol |lambda| of lambda, and within (tol lambda)^2 / gap
    when the rest of H's spectrum is at least ``gap`` away from lambda. A stop on the change of the estimate (power
    iteration's, PyHessian's) is fooled by a crowded top of the spectrum: the estimate creeps
    up slowly and its change falls below tol far from the answer. The residual is Lanczos's own
    estimate beta_k |s_k|, exact up to rounding in the products (float32 models: about 1e-7
    ||H|| in absolute terms, below which a smaller tol no longer improves the eigenvalue).
    """
    check_model(model)
    check_xy(X, y)
    if not (tol > 0 and isinstance(max_iter, int) and max_iter >= 1):
        raise ValueError(f"tol must be > 0 and max_iter a positive integer, got {tol!r}, {max_iter!r}")
    with eval_mode(model):
        params, grads = _first_order_graph(model, loss_fn, X, y)
        device = params[0].device if params[0].device.type != "mps" else torch.device("cpu")
        flatten, unflatten = _flat_codec(params, device)
        start = flatten(_random_like(params, torch.Generator().manual_seed(seed), rademacher=False))
        return _lanczos_top(lambda q: flatten(_hvp(params, grads, unflatten(q))), start, tol, max_iter)


@dataclass(frozen=True)
class HutchinsonTrace:
    """tr(H) estimated as the mean of v^T H v over Rademacher vectors v."""

    trace: float      # the estimate
    std_error: float  # its Monte Carlo standard error (std of v^T H v / sqrt(samples))
    samples: int      # Hessian-vector products used
    converged: bool   # std_error / |trace| fell below tol before max_iter


def hessian_trace(model: nn.Module, loss_fn: Callable | None, X: torch.Tensor, y: torch.Tensor,
                  tol: float = 1e-2, max_iter: int = 200, min_iter: int = 10,
                  seed: int = 0) -> HutchinsonTrace:
    """Hutchinson's estimator tr(H) = E[v^T H v], v_i = +-1 with equal probability (Ch. 4).

    Same loss and graph as ``top_hessian_eigenvalue``. Draws at least ``min_iter`` vectors and
    stops once the relative standard error is below ``tol``, or after ``max_iter``. The result
    reports the estimate's Monte Carlo standard error, ``std_error`` = std(v^T H v, ddof=1) /
    sqrt(samples), so an interval is ``trace +- 2 std_error``; it is exactly 0 when H is
    diagonal (every v^T H v equals tr(H)).
    """
    check_model(model)
    check_xy(X, y)
    if not (tol >= 0 and isinstance(max_iter, int) and 1 <= min_iter <= max_iter):
        raise ValueError(f"need tol >= 0 and integers 1 <= min_iter <= max_iter, "
                         f"got tol={tol!r}, min_iter={min_iter!r}, max_iter={max_iter!r}")
    g, samples = torch.Generator().manual_seed(seed), []
    with eval_mode(model):
        params, grads = _first_order_graph(model, loss_fn, X, y)
        for k in range(1, max_iter + 1):
            v = _random_like(params, g, rademacher=True)
            samples.append(float(_dot(v, _hvp(params, grads, v))))
            mean = float(np.mean(samples))
            se = float(np.std(samples, ddof=1) / math.sqrt(k)) if k > 1 else math.inf
            if k >= min_iter and se <= tol * abs(mean):
                return HutchinsonTrace(mean, se, k, True)
    return HutchinsonTrace(mean, se, max_iter, False)


# --- basin radius and volume (Huang et al. 2019, Sec. 5) --------------------------------------

@dataclass(frozen=True)
class BasinRadii:
    """Radii of the basin {theta: L(theta) <= threshold} along random filter-normalized directions."""

    radii: np.ndarray   # (n_directions,) step sizes, in units of each direction
    threshold: float    # the train loss that bounds the basin
    base_loss: float    # the loss at the minimum itself
    dim: int            # coordinates the directions move (weights; biases are excluded)
    max_radius: float   # search cap: a radius equal to it means "at least this far"

    def log10_volume(self) -> float:
        """``log10_basin_volume(radii, dim)``."""
        return log10_basin_volume(self.radii, self.dim)


def _first_crossing(loss_at, threshold, max_radius, n_grid, n_bisect) -> float:
    """The smallest grid radius where loss_at(r) > threshold, refined by bisection."""
    lo = 0.0
    for k in range(1, n_grid + 1):
        hi = max_radius * k / n_grid
        if loss_at(hi) > threshold:
            break
        lo = hi
    else:
        return max_radius
    for _ in range(n_bisect):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if loss_at(mid) <= threshold else (lo, mid)
    return (lo + hi) / 2


def basin_radius(model: nn.Module, X: torch.Tensor, y: torch.Tensor, threshold: float = 0.1,
                 n_directions: int = 20, seed: int = 0, max_radius: float = 2.0,
                 loss_fn: Callable | None = None, n_grid: int = 20, n_bisect: int = 8) -> BasinRadii:
    """Distance r_i along direction d_i at which the train loss first exceeds ``threshold`` (Ch. 4).

    The d_i are filter-normalized (``filter_normalized_direction`` with seeds seed, seed + 1,
    ...), so r = 1 is a step as large as the weights, filter by filter. r is located on a grid
    of ``n_grid`` steps up to ``max_radius``, then refined by ``n_bisect`` bisections.
    """
    check_model(model)
    check_xy(X, y)
    if not (isinstance(n_directions, int) and n_directions >= 1 and max_radius > 0):
        raise ValueError(f"n_directions must be a positive integer and max_radius > 0, "
                         f"got {n_directions!r}, {max_radius!r}")
    loss_fn = loss_fn or F.cross_entropy
    base = {n: p.detach() for n, p in _named_params(model).items()}
    base_loss = batched_loss_and_accuracy(model, X, y, loss_fn, params=base)[0]
    if not base_loss < threshold:
        raise ValueError(f"threshold ({threshold}) must exceed the loss at the minimum ({base_loss:.4g})")
    radii, dims = [], set()
    for i in range(n_directions):
        d = filter_normalized_direction(model, seed + i)
        dims.add(direction_dim(d))
        loss_at = lambda r: batched_loss_and_accuracy(model, X, y, loss_fn,
                                                      params=_shifted(base, [d], [r]))[0]
        radii.append(_first_crossing(loss_at, threshold, max_radius, n_grid, n_bisect))
    return BasinRadii(np.array(radii), float(threshold), base_loss, max(dims), float(max_radius))


def log10_basin_volume(radii, dim: int) -> float:
    """log10 of the volume of a star-shaped basin, V proportional to mean_i r_i^dim (Huang et al.).

    A region that extends r(u) along each unit direction u has volume V_dim(1) E_u[r(u)^dim],
    with V_dim(1) the unit ball's volume. We return log10 E[r^dim], the volume relative to the
    ball of radius 1, computed as logsumexp(dim log r) - log n so that it never overflows.
    """
    r = np.asarray(radii, dtype=float)
    if r.ndim != 1 or len(r) == 0 or not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise ValueError("radii must be a non-empty 1-D array of positive finite numbers")
    if not (isinstance(dim, (int, np.integer)) and dim >= 1):
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    log_terms = torch.as_tensor(dim * np.log(r), dtype=torch.float64)  # log r_i^dim, never r_i^dim
    log_mean = torch.logsumexp(log_terms, 0) - math.log(len(r))
    return float(log_mean) / math.log(10)


# --- the largest tolerated perturbation: shared by the two sharpness measures of Ch. 6 ----------

def _check_tolerance_args(model, X, y, max_deviation, counts: dict, bracket,
                          bracket_name: str) -> None:
    check_model(model)
    check_xy(X, y)
    if not 0 < max_deviation < 1:
        raise ValueError(f"max_deviation must lie in (0, 1), got {max_deviation!r}")
    if not all(isinstance(v, int) and v >= 1 for v in counts.values()):
        raise ValueError(f"{' and '.join(counts)} must be positive integers, got "
                         f"{', '.join(repr(v) for v in counts.values())}")
    lo, hi = bracket
    if not 0 < lo < hi:
        raise ValueError(f"{bracket_name} must be (low, high) with 0 < low < high, got {bracket!r}")


def _zero_one_error(model: nn.Module, X, y) -> Callable[[dict], float]:
    """params -> the 0-1 error on (X, y) with those weights (the model untouched), in eval mode."""
    def error_at(params: dict) -> float:
        accuracy = batched_loss_and_accuracy(model, X, y, params=params)[1]
        if math.isnan(accuracy):  # NaN would make every comparison of the search False
            raise ValueError("model must output class scores of shape (n, classes >= 2): "
                             "the 0-1 error is undefined otherwise")
        return 1 - accuracy
    return error_at


def _largest_tolerated(deviation: Callable[[float], float], bracket, max_deviation: float, n_bisect: int,
                       name: str) -> tuple[float, float, bool]:
    """(x', deviation(x'), capped): the largest x in ``bracket`` with deviation(x) <= max_deviation.

    Bisection on log x, assuming deviation grows with x; capped when even the bracket's upper
    end is tolerated (x' is then a lower bound). Each x is evaluated once.
    """
    lo, hi = bracket
    d_hi = deviation(hi)
    if d_hi <= max_deviation:
        return hi, d_hi, True
    d_lo = deviation(lo)
    if d_lo > max_deviation:
        raise ValueError(f"even {name} = {lo:g} raises the train error by more than {max_deviation}: "
                         f"lower {name}_range[0]")
    for _ in range(n_bisect):  # invariant: deviation(lo) <= max_deviation < deviation(hi)
        mid = math.sqrt(lo * hi)
        d_mid = deviation(mid)
        if d_mid <= max_deviation:
            lo, d_lo = mid, d_mid
        else:
            hi = mid
    return lo, d_lo, False


# --- PAC-Bayesian flatness (Jiang et al. 2020, the 'pacbayes.flatness' measure; Ch. 6) ---------

@dataclass(frozen=True)
class PacBayesSigma:
    """The largest perturbation scale sigma' the train error tolerates, and how it was found."""

    sigma: float         # sigma' (the measure is 1 / sigma'^2: sharper minima tolerate less)
    deviation: float     # mean train-error increase at sigma' (at most max_deviation)
    max_deviation: float  # the tolerated increase of the 0-1 train error
    base_error: float    # train error of the unperturbed model
    n_samples: int       # perturbations averaged at each sigma
    magnitude_aware: bool
    capped: bool         # True when even sigma_range's upper end was tolerated (a lower bound)


def pac_bayes_sigma(model: nn.Module, X: torch.Tensor, y: torch.Tensor, max_deviation: float = 0.1,
                    n_samples: int = 8, magnitude_aware: bool = False, epsilon: float = 1e-3,
                    sigma_range: tuple[float, float] = (1e-5, 10.0), n_bisect: int = 20,
                    seed: int = 0) -> PacBayesSigma:
    """Largest sigma with E_u[err(w + u)] - err(w) <= ``max_deviation``, u ~ N(0, sigma^2 I) (Ch. 6).

    Jiang et al.'s (2020) 'pacbayes.flatness' is 1 / sigma'^2; with ``magnitude_aware`` each
    coordinate's variance is sigma^2 w_i^2 + epsilon^2 instead ('pacbayes.mag.flatness', their
    epsilon = 1e-3), so that the noise is relative to each weight.
    err is the 0-1 error on (X, y) in eval mode; every parameter (weights and biases) is perturbed.
    The same ``n_samples`` Gaussian draws are rescaled at every sigma (common random numbers),
    so the estimated deviation is a deterministic function of sigma and bisection on log sigma
    (``n_bisect`` halvings of the bracket ``sigma_range``) converges; the model is not modified.
    """
    _check_tolerance_args(model, X, y, max_deviation, {"n_samples": n_samples, "n_bisect": n_bisect},
                          sigma_range, "sigma_range")
    base = {n: p.detach() for n, p in _named_params(model).items()}
    g = torch.Generator().manual_seed(seed)
    squares = {n: p.square() for n, p in base.items()}
    noise = [{n: torch.randn(p.shape, generator=g, dtype=torch.float32).to(p) for n, p in base.items()}
             for _ in range(n_samples)]  # standard normal, drawn on the CPU: device-independent

    def perturbed(z: dict, sigma: float) -> dict:
        """w + u with u = z * std: std = sigma, or sqrt(sigma^2 w^2 + epsilon^2) (magnitude-aware)."""
        if not magnitude_aware:
            return _shifted(base, [z], [sigma])
        return {n: w + z[n] * (sigma ** 2 * squares[n] + epsilon ** 2).sqrt() for n, w in base.items()}

    error_at = _zero_one_error(model, X, y)
    base_error = error_at(base)

    def deviation(sigma: float) -> float:
        return float(np.mean([error_at(perturbed(z, sigma)) for z in noise])) - base_error

    sigma, dev, capped = _largest_tolerated(deviation, sigma_range, max_deviation, n_bisect, "sigma")
    return PacBayesSigma(sigma, dev, max_deviation, base_error, n_samples, magnitude_aware, capped)


# --- worst-case sharpness (Keskar et al. 2017; Jiang et al. 2020's 'sharpness' measures; Ch. 6) --

@dataclass(frozen=True)
class WorstCaseAlpha:
    """The largest box half-width alpha' whose worst perturbation the train error tolerates."""

    alpha: float          # alpha' (the measure is 1 / alpha'^2: sharper minima tolerate less)
    deviation: float      # train-error increase of the worst perturbation found at alpha'
    max_deviation: float  # the tolerated increase of the 0-1 train error
    base_error: float     # train error of the unperturbed model
    steps: int            # projected gradient-ascent steps per alpha
    magnitude_aware: bool
    capped: bool          # True when even alpha_range's upper end was tolerated (a lower bound)


def _loss_gradient(model, params: dict, X, y, batch_size: int = 1024) -> dict:
    """Gradient of the mean cross-entropy over (X, y) at ``params``, accumulated over chunks."""
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    device = model_device(model)
    for i in range(0, len(X), batch_size):
        xb, yb = X[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
        live = {n: p.detach().requires_grad_(True) for n, p in params.items()}
        loss = F.cross_entropy(functional_call(model, live, (xb,)), yb, reduction="sum") / len(X)
        for (n, _), g in zip(live.items(), torch.autograd.grad(loss, list(live.values()))):
            total[n] += g
    return total


def worst_case_alpha(model: nn.Module, X: torch.Tensor, y: torch.Tensor, max_deviation: float = 0.1,
                     steps: int = 10, magnitude_aware: bool = False, epsilon: float = 1e-3,
                     alpha_range: tuple[float, float] = (1e-5, 10.0), n_bisect: int = 14,
                     seed: int = 0) -> WorstCaseAlpha:
    """Largest alpha with err(w + u*) - err(w) <= ``max_deviation``, u* the worst u in a box (Ch. 6).

    The box is |u_i| <= alpha (Jiang et al.'s 'sharpness-orig', after Keskar et al. 2017), or
    |u_i| <= alpha (|w_i| + epsilon) with ``magnitude_aware``, a box relative to each weight in the
    spirit of their 'sharpness.mag'. epsilon sits inside the scale so that the box shrinks to
    nothing with alpha: a box of +-1e-3 on every weight alone raised the train error of Ch. 6's
    sharpest MLPs (1e5 weights) by 13 to 57 points. The measure is 1 / alpha'^2.
    u* is searched by ``steps`` steps of projected sign-gradient ascent on the train cross-entropy
    from a random point of the box (step: a quarter of the box), and alpha' by bisection on log
    alpha. Gradient ascent finds a lower bound of the worst case, so alpha'
    is an upper bound of the true one; err is the 0-1 error on (X, y) in eval mode. Every
    parameter is perturbed; the model is not modified.
    """
    _check_tolerance_args(model, X, y, max_deviation, {"steps": steps, "n_bisect": n_bisect},
                          alpha_range, "alpha_range")
    base = {n: p.detach() for n, p in _named_params(model).items()}

    def worst_error(alpha: float) -> float:
        g = torch.Generator().manual_seed(seed)  # the same start at every alpha
        half = {n: alpha * (w.abs() + epsilon) if magnitude_aware else torch.full_like(w, alpha)
                for n, w in base.items()}
        u = {n: (2 * torch.rand(w.shape, generator=g, dtype=torch.float32) - 1).to(w) * half[n]
             for n, w in base.items()}
        for _ in range(steps):
            grads = _loss_gradient(model, {n: base[n] + u[n] for n in base}, X, y)
            u = {n: torch.clamp(u[n] + half[n] / 4 * grads[n].sign(), -half[n], half[n]) for n in base}
        return error_at({n: base[n] + u[n] for n in base})

    error_at = _zero_one_error(model, X, y)
    with eval_mode(model):  # the gradient-ascent steps run in eval mode too
        base_error = error_at(base)
        alpha, dev, capped = _largest_tolerated(lambda a: worst_error(a) - base_error, alpha_range,
                                                max_deviation, n_bisect, "alpha")
    return WorstCaseAlpha(alpha, dev, max_deviation, base_error, steps, magnitude_aware, capped)


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """One-sided Clopper-Pearson bounds on a binomial proportion from k successes in n trials:
    (lower, upper), each holding with probability ``confidence`` (0 and 1 at the edges)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    if not (0 <= k <= n and n >= 1):
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k!r}, n={n!r}")
    from scipy.stats import beta

    lower = float(beta.ppf(1 - confidence, k, n - k + 1)) if k > 0 else 0.0
    upper = float(beta.ppf(confidence, k + 1, n - k)) if k < n else 1.0
    return lower, upper


@dataclass(frozen=True)
class GuessAndCheck:
    """What ``guess_and_check`` found: how much of the prior fits the training set, and how
    the networks that fit it do on the test set."""

    samples: int                 # networks drawn from the prior
    hits: int                    # ... that classify every training point correctly
    test_accuracies: np.ndarray  # (hits,) the test accuracy of each of them
    n_train: int

    @property
    def fit_probability(self) -> float:
        """P(fit): the prior mass of the region that interpolates the training set."""
        return self.hits / self.samples

    def fit_probability_lower(self, delta: float = 0.05) -> float:
        """A one-sided 1 - delta lower confidence bound on P(fit) (Clopper-Pearson): the hits
        estimate P(fit), and a bound must not use the estimate as if it were known."""
        return clopper_pearson(self.hits, self.samples, 1 - delta)[0]

    def pac_bayes_bound(self, delta: float = 0.05) -> float:
        """The PAC-Bayes bound, with probability 1 - delta, on the test error of Q = prior | fit.

        KL(Q || prior) = ln(1 / P(fit)), and Q makes no training error, so Maurer's form of
        the bound, kl(0 || err) = -ln(1 - err) <= (KL + ln(2 sqrt(n) / delta')) / n, holds with
        probability 1 - delta'. P(fit) is only estimated by the draws: the bound uses its
        Clopper-Pearson lower bound at delta / 2 and the PAC-Bayes bound at delta / 2 (a union
        bound). The test error of Q itself is what the hits' accuracies estimate.
        """
        if not 0 < delta < 1:
            raise ValueError(f"delta must lie in (0, 1), got {delta!r}")
        if self.hits == 0:
            return 1.0
        kl = -math.log(self.fit_probability_lower(delta / 2))
        rhs = (kl + math.log(2 * math.sqrt(self.n_train) / (delta / 2))) / self.n_train
        return 1.0 - math.exp(-rhs)


def guess_and_check(model: nn.Module, X: torch.Tensor, y: torch.Tensor, X_test: torch.Tensor,
                    y_test: torch.Tensor, samples: int = 100_000, batch: int = 10_000,
                    seed: int = 0) -> GuessAndCheck:
    """Draw ``samples`` networks from ``model``'s initialization prior and keep those that fit.

    The "guess and check" optimizer of the volume argument (Huang et al. 2020; Chiang et al.
    2023 run it at scale): every ``nn.Linear`` weight and bias is drawn from torch's default
    initialization, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and a draw is a hit when it classifies
    every point of (X, y) correctly. A region of parameter space is hit in proportion to its
    prior volume, so the hits' test accuracies show which minima a volume-blind search finds.
    ``model`` must be made of ``nn.Linear`` layers and parameter-free modules (an MLP): its
    parameters are replaced, batched, through ``torch.func.vmap``; it is not changed.
    """
    check_model(model)
    check_xy(X, y, name="X")
    check_xy(X_test, y_test, name="X_test")
    for arg, value in (("samples", samples), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{arg} must be a positive integer, got {value!r}")
    layers = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    owned = {f"{name}.{p}" for name, m in layers.items() for p, _ in m.named_parameters()}
    if not layers or owned != {name for name, _ in model.named_parameters()}:
        raise ValueError("model must hold only nn.Linear parameters (an MLP) for guess_and_check")
    device = model_device(model)
    X, y, X_test, y_test = (t.to(device) for t in (X, y, X_test, y_test))
    g = torch.Generator(device=device).manual_seed(seed)

    def draw(k):
        params = {}
        for name, m in layers.items():
            bound = 1.0 / math.sqrt(m.in_features)  # torch's default for weight and bias alike
            for p_name, p in m.named_parameters():
                u = torch.rand((k, *p.shape), generator=g, device=device, dtype=p.dtype)
                params[f"{name}.{p_name}"] = (2 * u - 1) * bound
        return params

    predict = torch.func.vmap(lambda params, x: functional_call(model, params, (x,)).argmax(-1),
                              in_dims=(0, None))
    hits, accuracies = 0, []
    with torch.no_grad(), eval_mode(model):
        for start in range(0, samples, batch):
            params = draw(min(batch, samples - start))
            fit = (predict(params, X) == y).all(dim=1)
            if fit.any():
                kept = {k: v[fit] for k, v in params.items()}
                accuracies.append((predict(kept, X_test) == y_test).double().mean(dim=1).cpu())
                hits += int(fit.sum())
    acc = torch.cat(accuracies).numpy() if accuracies else np.zeros(0)
    return GuessAndCheck(samples=samples, hits=hits, test_accuracies=acc, n_train=len(y))
