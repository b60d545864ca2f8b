"""Rank correlations between a measure and the generalization gap (Jiang et al. 2020), Chapter 6.

- ``kendall_tau``: tau = 1/(|T|(|T|-1)) sum_{i != j} sign(mu_i - mu_j) sign(g_i - g_j).
- ``granulated_tau``: for each hyperparameter, the mean tau over the groups of models in which
  only that hyperparameter varies (psi_i), and their mean Psi.
Both come with a bootstrap confidence interval over models.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Estimate:
    """A statistic with its bootstrap percentile interval (``level`` coverage, ``n_boot`` resamples)."""

    value: float
    low: float
    high: float
    level: float
    n_boot: int


def _as_vector(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or len(x) < 2:
        raise ValueError(f"{name} must be a 1-D sequence of at least 2 values, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf: rank it only over models where it was computed")
    return x


def kendall_tau(measure, gap, variant: str = "a") -> float:
    """Kendall's tau between a measure and the gap over models (Jiang et al. 2020, Eq. 2).

    ``variant='a'`` is the paper's definition: tied pairs count as 0 and the sum is divided by
    all |T|(|T|-1) ordered pairs. ``variant='b'`` divides by the untied pairs instead (the
    tie-corrected tau-b, as ``scipy.stats.kendalltau``); without ties the two agree.
    """
    mu, g = _as_vector(measure, "measure"), _as_vector(gap, "gap")
    if len(mu) != len(g):
        raise ValueError(f"measure and gap must have the same length, got {len(mu)} and {len(g)}")
    if variant not in ("a", "b"):
        raise ValueError(f"variant must be 'a' or 'b', got {variant!r}")
    s_mu = np.sign(mu[:, None] - mu[None, :])  # (n, n) pairwise orderings
    s_g = np.sign(g[:, None] - g[None, :])
    concordance = (s_mu * s_g).sum()
    if variant == "a":
        return float(concordance / (len(mu) * (len(mu) - 1)))
    denominator = np.sqrt(np.abs(s_mu).sum() * np.abs(s_g).sum())
    return float(concordance / denominator) if denominator > 0 else float("nan")


def _granulated(table: pd.DataFrame, measure: str, gap: str, hyperparameters: list[str]) -> dict[str, float]:
    psi = {}
    for h in hyperparameters:
        others = [o for o in hyperparameters if o != h]
        groups = table.groupby(others) if others else [(None, table)]
        taus = [kendall_tau(g[measure], g[gap]) for _, g in groups if g[h].nunique() > 1 and len(g) > 1]
        psi[h] = float(np.mean(taus)) if taus else float("nan")
    finite = [v for v in psi.values() if np.isfinite(v)]
    return dict(psi, Psi=float(np.mean(finite)) if finite else float("nan"))


def granulated_tau(table: pd.DataFrame, measure: str, gap: str, hyperparameters, n_boot: int = 200,
                   level: float = 0.95, seed: int = 0) -> dict[str, Estimate]:
    """psi_i for each hyperparameter and their mean 'Psi' (Jiang et al. 2020, Eq. 4), with bootstrap CIs.

    The bootstrap resamples models with replacement and recomputes everything on the resample.
    """
    hyperparameters = list(hyperparameters)
    missing = {measure, gap, *hyperparameters} - set(table.columns)
    if missing:
        raise ValueError(f"table has no column(s) {sorted(missing)}")
    point = _granulated(table, measure, gap, hyperparameters)
    rng = np.random.default_rng(seed)
    boots = {k: [] for k in point}
    for _ in range(n_boot):
        sample = table.iloc[rng.integers(0, len(table), len(table))]
        for k, v in _granulated(sample, measure, gap, hyperparameters).items():
            boots[k].append(v)
    return {k: _estimate(point[k], boots[k], level, n_boot) for k in point}


def _estimate(value: float, samples, level: float, n_boot: int) -> Estimate:
    samples = np.asarray(samples, dtype=float)
    samples = samples[np.isfinite(samples)]
    tail = 100 * (1 - level) / 2
    low, high = (np.percentile(samples, [tail, 100 - tail]) if len(samples) else (np.nan, np.nan))
    return Estimate(float(value), float(low), float(high), level, n_boot)


def kendall_tau_ci(measure, gap, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> Estimate:
    """Kendall's tau (variant 'a') with a bootstrap percentile interval over models."""
    mu, g = _as_vector(measure, "measure"), _as_vector(gap, "gap")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    rng = np.random.default_rng(seed)
    boots = [kendall_tau(mu[idx], g[idx]) for idx in (rng.integers(0, len(mu), len(mu)) for _ in range(n_boot))]
    return _estimate(kendall_tau(mu, g), boots, level, n_boot)
