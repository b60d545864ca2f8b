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


def _statistics(measures: np.ndarray, gap: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(k measures, 1 + p + 1): tau, psi per hyperparameter and Psi, for every measure at once.

    ``measures`` (n, k), ``gap`` (n,), ``codes`` (n, p) integer codes of the hyperparameters.
    The same numbers as ``kendall_tau`` and ``granulated_tau``, from one (n, n, k) table of
    pairwise concordances instead of a pandas group-by per measure.
    """
    n, k = measures.shape
    concord = np.sign(measures[:, None, :] - measures[None, :, :]) * np.sign(gap[:, None] - gap[None, :])[..., None]
    out = np.full((k, codes.shape[1] + 2), np.nan)
    out[:, 0] = concord.sum((0, 1)) / (n * (n - 1))
    for h in range(codes.shape[1]):
        others = np.delete(codes, h, axis=1)
        _, group = np.unique(others, axis=0, return_inverse=True) if others.shape[1] else (None, np.zeros(n, int))
        taus = []
        for gid in np.unique(group):
            idx = np.flatnonzero(group.ravel() == gid)
            if len(idx) > 1 and len(np.unique(codes[idx, h])) > 1:
                taus.append(concord[np.ix_(idx, idx)].sum((0, 1)) / (len(idx) * (len(idx) - 1)))
        if taus:
            out[:, 1 + h] = np.mean(taus, axis=0)
    psi = out[:, 1:-1]
    finite = np.isfinite(psi)
    with np.errstate(invalid="ignore"):
        out[:, -1] = np.where(finite.any(1), np.nansum(psi, 1) / np.maximum(finite.sum(1), 1), np.nan)
    return out


def rank_measures(table: pd.DataFrame, signs: dict[str, int], gap: str, hyperparameters, n_boot: int = 500,
                  level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Kendall's tau and the granulated psi_i / Psi of every measure against ``gap``, with CIs.

    ``signs`` maps each measure's column to +1 or -1: the measure ranked is ``sign * table[m]``,
    so that a positive tau means "predicts the gap in the direction claimed for it". The
    bootstrap resamples models (rows) with replacement and recomputes every statistic on the
    same resamples, so with the same ``seed`` the intervals equal ``kendall_tau_ci``'s and
    ``granulated_tau``'s. Returns one row per (measure, statistic) with ``value``, ``low``,
    ``high``; statistic is 'tau', a hyperparameter's name (its psi) or 'Psi'.
    """
    hyperparameters = list(hyperparameters)
    names = list(signs)
    missing = {gap, *names, *hyperparameters} - set(table.columns)
    if missing:
        raise ValueError(f"table has no column(s) {sorted(missing)}")
    if any(s not in (1, -1) for s in signs.values()):
        raise ValueError(f"signs must be +1 or -1, got {signs}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    measures = np.column_stack([_as_vector(table[m], m) * signs[m] for m in names])
    g = _as_vector(table[gap], gap)
    codes = np.column_stack([pd.factorize(table[h], sort=True)[0] for h in hyperparameters]) \
        if hyperparameters else np.zeros((len(table), 0), int)
    point = _statistics(measures, g, codes)
    rng = np.random.default_rng(seed)
    boots = np.stack([_statistics(measures[idx], g[idx], codes[idx])
                      for idx in (rng.integers(0, len(g), len(g)) for _ in range(n_boot))])
    statistics = ["tau", *hyperparameters, "Psi"]
    rows = []
    for i, m in enumerate(names):
        for j, stat in enumerate(statistics):
            est = _estimate(point[i, j], boots[:, i, j], level, n_boot)
            rows.append({"measure": m, "statistic": stat, "value": est.value, "low": est.low, "high": est.high})
    return pd.DataFrame(rows)
