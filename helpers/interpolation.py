"""Closed-form interpolation of Chapter 1 (Zhang et al. 2017, Sec. 4 and 5).

- ``two_layer_interpolant``: Theorem 1's depth-two ReLU network with 2n + d weights that fits
  any n labels exactly, built with no training.
- ``min_norm_solution`` and ``sgd_least_squares``: SGD on an over-parameterized linear model,
  started at zero, ends at the minimum-norm interpolant X^+ y.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

from .safety import check_xy


@dataclass(frozen=True)
class TwoLayerReLU:
    """f(x) = sum_j w_j max(<a, x> - b_j, 0): d + n + n weights (a, b, w)."""

    a: torch.Tensor  # (d,)  one projection shared by all hidden units
    b: torch.Tensor  # (n,)  one bias per hidden unit
    w: torch.Tensor  # (n,) or (n, k)  output weights

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        z = x.to(self.a.dtype).reshape(len(x), -1) @ self.a  # (m,)
        return torch.relu(z[:, None] - self.b[None, :]) @ self.w

    @property
    def num_weights(self) -> int:
        return self.a.numel() + self.b.numel() + self.w.shape[0]


def two_layer_interpolant(x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> TwoLayerReLU:
    """Zhang et al.'s Theorem 1: a depth-two ReLU net with 2n + d weights that fits (x, y) exactly.

    Project onto a random direction a so that z_i = <a, x_i> are distinct, sort them, put one
    bias b_j just below each z_(j). Then A_ij = max(z_i - b_j, 0) is lower triangular with a
    positive diagonal, so w = A^{-1} y solves f(x_i) = y_i. Works in float64.
    """
    check_xy(x, y, name="x")
    x = x.reshape(len(x), -1).double()
    y = y.double()
    a = torch.randn(x.shape[1], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    z = x @ a
    order = torch.argsort(z)
    z_sorted = z[order]
    gaps = torch.diff(z_sorted)
    if len(z) > 1 and not gaps.min() > 0:
        raise ValueError("x has repeated samples (or samples that project to the same point): "
                         "no function can give two copies of one input different labels")
    # b_1 < z_(1) < b_2 < z_(2) < ...: each bias halfway below its point
    below = torch.cat([gaps.new_ones(1), gaps]) if len(z) > 1 else z.new_ones(1)
    b = z_sorted - below / 2
    A = torch.relu(z_sorted[:, None] - b[None, :])  # (n, n), lower triangular
    rhs = y[order] if y.ndim == 2 else y[order][:, None]
    w = torch.linalg.solve_triangular(A, rhs, upper=False)
    return TwoLayerReLU(a, b, w if y.ndim == 2 else w[:, 0])


def min_norm_solution(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The minimum-norm least-squares solution w = X^+ y (pseudo-inverse), in float64."""
    check_xy(x, y, name="x")
    return torch.linalg.pinv(x.reshape(len(x), -1).double()) @ y.double()


def sgd_least_squares(x: torch.Tensor, y: torch.Tensor, steps: int = 20_000, batch_size: int = 10,
                      lr: float | None = None, w0: torch.Tensor | None = None, seed: int = 0) -> torch.Tensor:
    """Mini-batch SGD on the squared loss ||Xw - y||^2 / 2n, from ``w0`` (default: zero).

    Every update is a combination of rows of X, so from zero the iterates never leave X's row
    space, and the interpolant they reach is the minimum-norm one. ``lr`` defaults to
    1 / max_i ||x_i||^2, which is stable for any batch size. A run whose iterates become NaN or
    inf (too large an lr) raises FloatingPointError rather than returning them.
    """
    check_xy(x, y, name="x")
    for arg, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{arg} must be a positive integer, got {value!r}")
    x, y = x.reshape(len(x), -1).double(), y.double()
    if lr is None:
        scale = (x * x).sum(1).max().item()
        if not scale > 0:
            raise ValueError("x is all zeros: no default lr (1 / max_i ||x_i||^2), and nothing to fit")
        lr = 1.0 / scale
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive finite number or None, got {lr!r}")
    shape = (x.shape[1], *y.shape[1:])
    if w0 is not None and (not isinstance(w0, torch.Tensor) or tuple(w0.shape) != shape):
        got = tuple(w0.shape) if isinstance(w0, torch.Tensor) else type(w0).__name__
        raise ValueError(f"w0 must be a tensor of shape {shape}, got {got}")
    w = torch.zeros(shape, dtype=torch.float64) if w0 is None else w0.double().clone()
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        idx = torch.randint(0, len(x), (batch_size,), generator=g)
        xb = x[idx]
        w -= lr * xb.T @ (xb @ w - y[idx]) / batch_size
        if (step + 1) % 100 == 0 or step + 1 == steps:
            if not bool(torch.isfinite(w).all()):
                raise FloatingPointError(
                    f"SGD diverged by step {step + 1} (the iterates became NaN or inf) with lr={lr:g}; "
                    f"the stable default is lr=None (1 / max_i ||x_i||^2 = "
                    f"{1.0 / (x * x).sum(1).max().item():.3g})")
    return w
