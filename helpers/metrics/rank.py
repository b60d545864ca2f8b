"""Rank correlations between a measure and the generalization gap (Jiang et al. 2020), Chapter 6.

- ``kendall_tau``: tau = 1/(|T|(|T|-1)) sum_{i != j} sign(mu_i - mu_j) sign(g_i - g_j).
- ``granulated_tau``: for each hyperparameter, the mean tau over the groups of models in which
  only that hyperparameter varies (psi_i), and their mean Psi.
Both come with a bootstrap confidence interval over models. A bootstrap resample draws some
models twice; a model and its own copy form a tied pair that says nothing about the ranking, so
such pairs are left out of every sum and count (otherwise each resample's tau shrinks towards 0
and the interval falls below the estimate, most for psi's groups of two or three models).
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
    raw = np.asarray(x)
    if raw.dtype.kind not in "biuf":
        example = f" such as {raw.flat[0]!r}" if raw.size else ""
        raise TypeError(f"{name} must hold numbers, got values of dtype {raw.dtype}{example}")
    x = raw.astype(float)
    if x.ndim != 1 or len(x) < 2:
        raise ValueError(f"{name} must be a 1-D sequence of at least 2 values, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf: rank it only over models where it was computed")
    return x


def _check_varies(x: np.ndarray, name: str) -> None:
    """ValueError unless ``x`` takes at least two values: a constant orders no pair of models."""
    if np.all(x == x[0]):
        raise ValueError(f"{name} is constant (all {len(x)} values are {x[0]:g}): it orders no pair "
                         "of models, so Kendall's tau is undefined (it would read 0, with the "
                         "interval [0, 0]); leave it out of the ranking")


def _check_n_boot(n_boot) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer (bootstrap resamples), got {n_boot!r}")


def kendall_tau(measure, gap, variant: str = "a") -> float:
    """Kendall's tau between a measure and the gap over models (Jiang et al. 2020, Eq. 2).

    ``variant='a'`` is the paper's definition: tied pairs count as 0 and the sum is divided by
    all |T|(|T|-1) ordered pairs. ``variant='b'`` divides by the untied pairs instead (the
    tie-corrected tau-b, as ``scipy.stats.kendalltau``); without ties the two agree. A constant
    measure or gap orders no pair, so tau is undefined: ValueError (rather than 0 or NaN).
    """
    if variant not in ("a", "b"):
        raise ValueError(f"variant must be 'a' or 'b', got {variant!r}")
    mu, g = _as_vector(measure, "measure"), _as_vector(gap, "gap")
    if len(mu) != len(g):
        raise ValueError(f"measure and gap must have the same length, got {len(mu)} and {len(g)}")
    _check_varies(mu, "measure")
    _check_varies(g, "gap")
    s_mu = np.sign(mu[:, None] - mu[None, :])  # (n, n) pairwise orderings
    s_g = np.sign(g[:, None] - g[None, :])
    concordance = (s_mu * s_g).sum()
    if variant == "a":
        return float(concordance / (len(mu) * (len(mu) - 1)))
    denominator = np.sqrt(np.abs(s_mu).sum() * np.abs(s_g).sum())  # > 0: neither is constant
    return float(concordance / denominator)


def granulated_tau(table: pd.DataFrame, measure: str, gap: str, hyperparameters, n_boot: int = 200,
                   level: float = 0.95, seed: int = 0) -> dict[str, Estimate]:
    """psi_i for each hyperparameter and their mean 'Psi' (Jiang et al. 2020, Eq. 4), with bootstrap CIs.

    For hyperparameter i, psi_i is the mean Kendall tau over the groups of models that agree on
    every other hyperparameter (and differ in i). The bootstrap resamples models with
    replacement and recomputes everything on the resample (pairs of a model with its own copy
    left out, see the module's docstring). ``rank_measures`` does this for many measures at once.
    A hyperparameter that varies alone in no group has no psi: ValueError naming it.
    """
    _check_n_boot(n_boot)
    hyperparameters = list(hyperparameters)
    missing = {gap, measure, *hyperparameters} - set(table.columns)
    if missing:
        raise ValueError(f"table has no column(s) {sorted(missing)}")
    _check_varies(_as_vector(table[measure], measure), f"column {measure!r}")
    codes = _codes(table, hyperparameters)
    lonely = [h for i, h in enumerate(hyperparameters) if not _has_group(codes, i)]
    if lonely:
        raise ValueError(f"no group of models varies only in {lonely} (models that agree on every "
                         f"other hyperparameter and differ in it), so psi is undefined there; "
                         f"pass hyperparameters without them")
    rows = rank_measures(table, {measure: 1}, gap, hyperparameters, n_boot, level, seed)
    return {r.statistic: Estimate(r.value, r.low, r.high, level, n_boot)
            for r in rows.itertuples() if r.statistic != "tau"}


def _estimate(value: float, samples, level: float, n_boot: int) -> Estimate:
    samples = np.asarray(samples, dtype=float)
    samples = samples[np.isfinite(samples)]
    tail = 100 * (1 - level) / 2
    low, high = (np.percentile(samples, [tail, 100 - tail]) if len(samples) else (np.nan, np.nan))
    return Estimate(float(value), float(low), float(high), level, n_boot)


def kendall_tau_ci(measure, gap, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> Estimate:
    """Kendall's tau (variant 'a') with a bootstrap percentile interval over models.

    Pairs of a model with its own copy in a resample are left out (see the module's docstring).
    """
    _check_n_boot(n_boot)
    mu, g = _as_vector(measure, "measure"), _as_vector(gap, "gap")
    if len(mu) != len(g):
        raise ValueError(f"measure and gap must have the same length, got {len(mu)} and {len(g)}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    boots = _bootstrap(mu[:, None], g, np.zeros((len(g), 0), int), n_boot, seed)[:, 0, 0]
    return _estimate(kendall_tau(mu, g), boots, level, n_boot)


def _codes(table: pd.DataFrame, hyperparameters: list[str]) -> np.ndarray:
    """(n, p) integer codes of the hyperparameters' values."""
    if not hyperparameters:
        return np.zeros((len(table), 0), int)
    return np.column_stack([pd.factorize(table[h], sort=True)[0] for h in hyperparameters])


def _groups(codes: np.ndarray, h: int) -> np.ndarray:
    """(n,) group ids: models with the same values of every hyperparameter but the h-th."""
    others = np.delete(codes, h, axis=1)
    return (np.unique(others, axis=0, return_inverse=True)[1].ravel() if others.shape[1]
            else np.zeros(len(codes), int))


def _has_group(codes: np.ndarray, h: int) -> bool:
    """Whether some group of models agrees on every hyperparameter but the h-th and differs in it."""
    group = _groups(codes, h)
    return any(len(np.unique(codes[group == gid, h])) > 1 for gid in np.unique(group))


def _bootstrap(measures: np.ndarray, gap: np.ndarray, codes: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, k, 1 + p + 1) statistics on resamples of the models, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    draws = (rng.integers(0, len(gap), len(gap)) for _ in range(n_boot))
    return np.stack([_statistics(measures[idx], gap[idx], codes[idx], origin=idx) for idx in draws])


def _statistics(measures: np.ndarray, gap: np.ndarray, codes: np.ndarray, origin=None) -> np.ndarray:
    """(k measures, 1 + p + 1): tau, psi per hyperparameter and Psi, for every measure at once.

    ``measures`` (n, k), ``gap`` (n,), ``codes`` (n, p) integer codes of the hyperparameters;
    ``origin`` (n,) says which original model each row is (a bootstrap resample repeats some),
    and pairs of rows with the same origin are left out. Without repeats these are the numbers
    of ``kendall_tau`` and ``granulated_tau``, from one (n, n, k) table of pairwise concordances.
    """
    n, k = measures.shape
    origin = np.arange(n) if origin is None else np.asarray(origin)
    distinct = origin[:, None] != origin[None, :]  # (n, n) pairs of two different models
    concord = np.sign(measures[:, None, :] - measures[None, :, :]) * np.sign(gap[:, None] - gap[None, :])[..., None]
    concord *= distinct[..., None]
    out = np.full((k, codes.shape[1] + 2), np.nan)
    if distinct.any():
        out[:, 0] = concord.sum((0, 1)) / distinct.sum()
    for h in range(codes.shape[1]):
        group = _groups(codes, h)
        taus = []
        for gid in np.unique(group):
            idx = np.flatnonzero(group == gid)
            if len(np.unique(codes[idx, h])) > 1:  # only h varies in the group, and it does vary
                block = np.ix_(idx, idx)
                taus.append(concord[block].sum((0, 1)) / distinct[block].sum())
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
    same resamples (pairs of a model with its own copy left out), so with the same ``seed`` the
    intervals equal ``kendall_tau_ci``'s and ``granulated_tau``'s. Returns one row per (measure, statistic) with ``value``, ``low``,
    ``high``; statistic is 'tau', a hyperparameter's name (its psi) or 'Psi'.

    A measure that is constant over the models ranks nothing: its rows have value, low and
    high NaN and say so in a column ``note`` (only then present; empty for the other rows). A constant gap is
    refused (ValueError naming its column), as is a set of
    hyperparameters none of which varies alone in any group of models; one that does not, among
    others that do, has psi NaN (no group to average over) and is left out of Psi. With no
    hyperparameters, only tau is returned.
    """
    _check_n_boot(n_boot)
    hyperparameters = list(hyperparameters)
    names = list(signs)
    missing = {gap, *names, *hyperparameters} - set(table.columns)
    if missing:
        raise ValueError(f"table has no column(s) {sorted(missing)}")
    if any(s not in (1, -1) for s in signs.values()):
        raise ValueError(f"signs must be +1 or -1, got {signs}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    if not names:
        raise ValueError("signs must name at least one measure column, got {}")
    measures = np.column_stack([_as_vector(table[m], m) * signs[m] for m in names])
    g = _as_vector(table[gap], gap)
    _check_varies(g, f"column {gap!r}")
    constant = [bool(np.all(measures[:, j] == measures[0, j])) for j in range(len(names))]
    codes = _codes(table, hyperparameters)
    if hyperparameters and not any(_has_group(codes, i) for i in range(len(hyperparameters))):
        raise ValueError(f"no group of models varies in only one of {hyperparameters}, so no psi "
                         "and no Psi can be computed; rank with hyperparameters=[] for tau alone")
    point = _statistics(measures, g, codes)
    boots = _bootstrap(measures, g, codes, n_boot, seed)
    statistics = ["tau", *hyperparameters, "Psi"] if hyperparameters else ["tau"]  # no Psi of nothing
    rows = []
    for i, m in enumerate(names):
        for j, stat in enumerate(statistics):
            if constant[i]:  # it orders no pair: no tau, and not the 0 with [0, 0] it would read
                rows.append({"measure": m, "statistic": stat, "value": np.nan, "low": np.nan,
                             "high": np.nan, "note": CONSTANT_NOTE})
                continue
            est = _estimate(point[i, j], boots[:, i, j], level, n_boot)
            rows.append({"measure": m, "statistic": stat, "value": est.value, "low": est.low,
                         "high": est.high, **({"note": ""} if any(constant) else {})})
    return pd.DataFrame(rows)


CONSTANT_NOTE = "constant over the models: it ranks nothing, so tau and psi are undefined"


def permutation_pass_rate(x, y, statistic, passes, n_permutations: int = 2000, seed: int = 0) -> float:
    """How often a scorecard test passes on a null: ``y`` shuffled against ``x``.

    ``statistic(x, y)`` is the number the test reads (a rank correlation, an R^2) and
    ``passes(value)`` the test itself. Returns the fraction of ``n_permutations`` random
    orders of ``y`` for which the test passes: a test that a random pairing passes often
    tests little (the scorecards' null, every chapter).
    """
    x, y = _as_vector(x, "x"), _as_vector(y, "y")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if not (isinstance(n_permutations, int) and n_permutations >= 1):
        raise ValueError(f"n_permutations must be a positive integer, got {n_permutations!r}")
    rng = np.random.default_rng(seed)
    hits = sum(bool(passes(statistic(x, rng.permutation(y)))) for _ in range(n_permutations))
    return hits / n_permutations
