"""Rank correlations between a measure and the generalization gap (Jiang et al. 2020), Chapter 6.

- ``kendall_tau``: tau = 1/(|T|(|T|-1)) sum_{i != j} sign(mu_i - mu_j) sign(g_i - g_j).
- ``granulated_tau``: for each hyperparameter, the mean tau over the groups of models in which
  only that hyperparameter varies (psi_i), and their mean Psi.
- ``conditional_independence`` (one measure) and ``conditional_independence_all`` (many): Jiang
  et al.'s conditional-independence score K, below.
- ``environment_taus`` and ``robust_summary``: the robust view of Dziugaite et al. 2020, below.
Each statistic comes with a bootstrap confidence interval over models. A bootstrap resample draws some
models twice; a model and its own copy form a tied pair that says nothing about the ranking, so
such pairs are left out of every sum and count (otherwise each resample's tau shrinks towards 0
and the interval falls below the estimate, most for psi's groups of two or three models).

**K, the conditional-independence score** (Jiang et al. 2020, "Fantastic generalization measures
and where to find them", ICLR, Section 6, "Conditional independence test: towards capturing the
causal relationships"; and the scoring program of the NeurIPS 2020 PGDL competition, the
competition starting kit's ``scoring_program/mutual_information.py``, function
``conditional_mutual_information``, by the same first author). The probability space is the set of
ordered pairs (i, j) of two different models, uniformly weighted. On a pair,
V_mu = sign(mu_i - mu_j), V_g = sign(g_i - g_j), and for a set S of hyperparameters U_S is the
pair's values of S in *both* models, (theta_i[S], theta_j[S]): one cell per pair of values, as the
scoring program's keys str(v_i) + str(v_j) (the paper's joint table "for a single S_ab"). Then

    I(V_mu, V_g | U_S) = sum_u p(u) sum_{v, w} p(v, w | u) log[p(v, w | u) / (p(v | u) p(w | u))],
    I^(S) = I(V_mu, V_g | U_S) / H(V_g | U_S),    H(V_g | U_S) = sum_u p(u) H(V_g | U_S = u),
    K(mu) = min over S with |S| <= max_conditioning (the empty set included) of I^(S).

K is 1 when the measure's ordering of a pair says everything about the gap's that the
hyperparameters do not already say, and 0 when some S makes the two orderings independent (the
measure then looks like a proxy of those hyperparameters). It measures dependence, not its
direction: a measure that orders every pair backwards also has K = 1, so ``sign`` changes nothing
(with the default ``ties``). With S empty and no ties, I^ = 1 - h((1 + tau) / 2), h the binary
entropy in bits: the ordered pairs make both V's symmetric, and V_mu = V_g on a fraction
(1 + tau) / 2 of them. Where H(V_g | U_S) = 0 the hyperparameters S fix the gap's ordering of
every pair, V_mu and V_g are trivially independent given U_S and I^ = 0 (the scoring program's
0 / (tiny entropy) reads 0 as well).
Where this departs from the scoring program, and why:
- Ties: the scoring program reads "mu_i > mu_j" as +1 and everything else, a tie included, as
  -1 (the same for the gap); so a tied pair is -1 in both orders, counted with the pairs the
  measure orders one way, and where the gap has ties too, K can change with the measure's
  orientation. Here (``ties='sign'``) a tie is V = 0, a third outcome, as in tau-a, and K is the
  same for mu and -mu. ``ties='below'`` gives the program's convention. Without ties they agree.
- Pairs: the program loops over all ordered pairs (i, j) *including i = j*, each self-pair a
  (-1, -1) count; here a model is never paired with itself (nor, in a resample, with its copy).
  Neither the program nor this module restricts the pairs to models that differ in some
  hyperparameter.
- Weights: the program averages the per-cell mutual information and the per-cell entropy of
  V_g with equal weight per cell of value pairs, then divides; that is the p(u)-weighted ratio
  above when every cell holds the same number of pairs, which its complete, one-model-per-point
  grid ensures (it refuses any other). A zoo without the models that missed the target is not
  such a grid, so the cells are weighted by p(u), as in the paper's formula.
- Sets: the program takes the minimum over sets of exactly two hyperparameters; the paper's
  minimum over |S| <= 2, which includes the empty set and single hyperparameters, is used here.
The bootstrap recomputes K, its minimum over S included, on each resample of the models; the
minimum of noisy numbers is biased low, so the interval can sit below K when sets tie.

**The robust view** (Dziugaite et al. 2020, "In search of robust measures of generalization",
NeurIPS): instead of averaging over environments, look at the whole distribution of a
measure's performance over them, above all its worst case. Their environments are pairs of
training configurations that differ in one hyperparameter, their statistic a sign error averaged
over seeds. Here an environment is one group of ``granulated_tau`` (the rows that agree on
every hyperparameter passed but one, which varies), and the statistic is tau-a over the group.
With one model per configuration and two values per hyperparameter, a group is a pair of models
and its tau is +1 or -1, so the worst case is -1 as soon as one environment is ordered wrongly.
With seeds as rows (Chapter 6 passes its per-model table and not the seed), a group holds every
seed of the two configurations, and the pairs of two seeds of one configuration, which no
measure of the configuration can order, count in its tau: compare with a reference such as the
configuration's own mean gap used as a measure.
``robust_summary`` gives per measure the worst tau, a low quantile and the mean over all
environments. That mean is not Psi: Psi first averages within each hyperparameter
(psi_i) and then over hyperparameters, each weighing the same, while the mean over environments
weighs hyperparameter i by its number of environments (N / k_i on a complete grid of N models,
k_i values of i: the hyperparameters with fewest values weigh most). A group in which the measure
or the gap is constant has no tau (no pair is ordered by both); ``granulated_tau`` counts it as 0,
the robust view skips it and says how many it skipped: a measure that is silent in an environment
is not scored there, so read the skipped count next to its worst case.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse


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


def _check_varies(x: np.ndarray, name: str, statistic: str = "Kendall's tau") -> None:
    """ValueError unless ``x`` takes at least two values: a constant orders no pair of models."""
    if np.all(x == x[0]):
        raise ValueError(f"{name} is constant (all {len(x)} values are {x[0]:g}): it orders no pair "
                         f"of models, so {statistic} is undefined (it would read 0, with the "
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
    if not others.shape[1]:
        return np.zeros(len(codes), int)
    # one integer per combination of the other codes (mixed radix), then 1-D unique: faster than
    # unique over rows, and the same ids (both sort the combinations lexicographically)
    radix = np.concatenate([np.cumprod((others.max(0) + 1)[::-1])[::-1][1:], [1]])
    return np.unique(others @ radix, return_inverse=True)[1].ravel()


def _has_group(codes: np.ndarray, h: int) -> bool:
    """Whether some group of models agrees on every hyperparameter but the h-th and differs in it."""
    group = _groups(codes, h)
    return any(len(np.unique(codes[group == gid, h])) > 1 for gid in np.unique(group))


def _draws(n: int, n_boot: int, seed: int):
    """The bootstrap resamples (row indices) of n models: the same for every statistic of this module."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, n, n) for _ in range(n_boot))


def _bootstrap(measures: np.ndarray, gap: np.ndarray, codes: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, k, 1 + p + 1) statistics on resamples of the models, drawn with ``seed``."""
    draws = _draws(len(gap), n_boot, seed)
    return np.stack([_statistics(measures[idx], gap[idx], codes[idx], origin=idx) for idx in draws])


def _group_taus(codes: np.ndarray, h: int, distinct: np.ndarray, concord: np.ndarray) -> np.ndarray:
    """(groups, k): the tau of every group of models in which only h varies (no rows: none does).

    A group's tau is its concordance sum over its distinct pairs. The sums come from one
    product over all pairs of the same group, not a loop over groups: the permutation nulls of
    Chapter 6 call this thousands of times. Integer sums divided once keep a perfect tau exactly 1.
    """
    group = _groups(codes, h)
    n_groups = group.max() + 1
    low = np.full(n_groups, codes[:, h].max() + 1)
    high = np.full(n_groups, -1)
    np.minimum.at(low, group, codes[:, h])
    np.maximum.at(high, group, codes[:, h])
    varies = low < high  # only h varies in the group, and it does vary
    same = (group[:, None] == group[None, :]) & distinct
    sums = np.zeros((n_groups, concord.shape[2]))
    np.add.at(sums, group, np.einsum("ij,ijk->ik", same, concord))
    pairs = np.bincount(group, weights=same.sum(1), minlength=n_groups)  # > 0 wherever h varies
    return sums[varies] / pairs[varies][:, None]


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
        taus = _group_taus(codes, h, distinct, concord)
        if len(taus):
            out[:, 1 + h] = taus.mean(0)
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


def paired_differences(table: pd.DataFrame, signs: dict[str, int], gap: str, hyperparameters, pairs,
                       statistic: str = "Psi", n_boot: int = 500, level: float = 0.95,
                       seed: int = 0) -> pd.DataFrame:
    """``statistic`` of measure a minus that of measure b, for each (a, b) in ``pairs``, with a
    paired bootstrap interval: both are recomputed on the *same* resamples of the models.

    Two measures ranked on the same zoo share its luck (the same few groups decide both psi's),
    so their difference is much better determined than the two separate intervals suggest; the
    paired interval is the honest test of "a ranks above b". ``statistic`` is 'tau', 'Psi' or a
    hyperparameter's name; the resamples are ``rank_measures``'s with the same ``seed``.
    Returns one row per pair: a, b, value, low, high (NaN where either measure is constant).
    """
    pairs = [tuple(pair) for pair in pairs]
    if not pairs or any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"pairs must be a non-empty list of (a, b) measure names, got {pairs!r}")
    unknown = {m for pair in pairs for m in pair} - set(signs)
    if unknown:
        raise ValueError(f"pairs name measures without a sign in signs: {sorted(unknown)}")
    hyperparameters = list(hyperparameters)
    statistics = ["tau", *hyperparameters, "Psi"] if hyperparameters else ["tau"]
    if statistic not in statistics:
        raise ValueError(f"statistic must be one of {statistics}, got {statistic!r}")
    _check_n_boot(n_boot)
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    names = sorted({m for pair in pairs for m in pair}, key=list(signs).index)
    missing = {gap, *names, *hyperparameters} - set(table.columns)
    if missing:
        raise ValueError(f"table has no column(s) {sorted(missing)}")
    measures = np.column_stack([_as_vector(table[m], m) * signs[m] for m in names])
    g = _as_vector(table[gap], gap)
    _check_varies(g, f"column {gap!r}")
    constant = {m: bool(np.all(measures[:, j] == measures[0, j])) for j, m in enumerate(names)}
    codes = _codes(table, hyperparameters)
    column = statistics.index(statistic)
    point = _statistics(measures, g, codes)[:, column]
    boots = _bootstrap(measures, g, codes, n_boot, seed)[:, :, column]  # (n_boot, measures)
    rows = []
    for a, b in pairs:
        i, j = names.index(a), names.index(b)
        if constant[a] or constant[b]:
            rows.append({"a": a, "b": b, "value": np.nan, "low": np.nan, "high": np.nan})
            continue
        est = _estimate(point[i] - point[j], boots[:, i] - boots[:, j], level, n_boot)
        rows.append({"a": a, "b": b, "value": est.value, "low": est.low, "high": est.high})
    return pd.DataFrame(rows, columns=["a", "b", "value", "low", "high"])


def permute_measures(table: pd.DataFrame, measures, seed: int) -> pd.DataFrame:
    """A copy of ``table`` whose ``measures`` columns are shuffled across rows by one permutation.

    The gap and the hyperparameters stay where they are, so every measure becomes unrelated to
    the models it is listed with, while the measures keep their values and their relations to
    one another: the null under which a scorecard row about a ranking should rarely hold.
    """
    measures = list(measures)
    missing = set(measures) - set(table.columns)
    if missing:
        raise ValueError(f"table has no column(s) {sorted(missing)}")
    order = np.random.default_rng(seed).permutation(len(table))
    out = table.copy()
    out[measures] = table[measures].to_numpy()[order]
    return out


# --- K: Jiang et al.'s conditional-independence score (see the module's docstring) ----------------

K_CONSTANT_NOTE = "constant over the models: it orders no pair, so K is undefined"
_TIES = ("sign", "below")


@dataclass(frozen=True)
class ConditionalIndependence:
    """Jiang et al.'s K with its bootstrap percentile interval (``level``, ``n_boot`` resamples).

    ``conditioning`` names the hyperparameters of the set S that attains the minimum (the smallest
    such set, the empty tuple for none); ``by_set`` holds I^(S) for every set S tried.
    """

    value: float
    low: float
    high: float
    level: float
    n_boot: int
    conditioning: tuple[str, ...]
    by_set: dict[tuple[str, ...], float]


def _conditioning_sets(p: int, max_conditioning: int) -> list[tuple[int, ...]]:
    """Every set of at most ``max_conditioning`` of p hyperparameters, smallest first."""
    return [s for r in range(min(max_conditioning, p) + 1) for s in itertools.combinations(range(p), r)]


def _pair_signs(x: np.ndarray, i: np.ndarray, j: np.ndarray, ties: str) -> np.ndarray:
    """(pairs, ...) codes 0, 1, 2 of V = -1, 0, +1 for x_i - x_j ('below': a tie is -1)."""
    d = x[i] - x[j]
    return (np.sign(d).astype(np.int64) + 1) if ties == "sign" else np.where(d > 0, 2, 0)


def _xlogx(c: np.ndarray) -> np.ndarray:
    return c * np.log(np.where(c > 0, c, 1.0))


def _normalized_cmi(counts: np.ndarray) -> np.ndarray:
    """I(V_mu, V_g | U) / H(V_g | U) from counts (k, cells u, V_g, V_mu, resamples) -> (k, resamples).

    In counts, N * I = sum_u [sum_{g,m} n log n - sum_g n_g log n_g - sum_m n_m log n_m + n_u log n_u]
    and N * H = sum_u [n_u log n_u - sum_g n_g log n_g]. Summing over V_mu before V_g, and
    subtracting in this order, makes I and H the same floats when V_mu = V_g, so that a measure
    equal to the gap has K = 1 exactly.
    """
    n_g = counts.sum(3)
    joint = _xlogx(counts).sum(3).sum(2)
    gap_part = _xlogx(n_g).sum(2)
    measure_part = _xlogx(counts.sum(2)).sum(2)
    cell = _xlogx(n_g.sum(2))
    info = (((joint - gap_part) - measure_part) + cell).sum(1)
    entropy = (cell - gap_part).sum(1)
    # H = 0: S fixes the gap's ordering of every pair, V_mu is trivially independent of it (I = 0)
    return np.where(entropy > 0, np.clip(info, 0.0, None) / np.where(entropy > 0, entropy, 1.0), 0.0)


def _cmi_table(measures: np.ndarray, gap: np.ndarray, codes: np.ndarray, sets, n_boot: int, seed: int,
               ties: str) -> np.ndarray:
    """(k measures, len(sets), 1 + n_boot) I^(S): the models, then each resample of ``_draws``.

    A resample repeats model i w_i times; its ordered pairs of rows from two different models are
    the original pairs (i, j), i != j, each w_i w_j times. So every resample is a weighting of the
    same n(n-1) pairs, and the counts of all resamples at once are one sparse product
    (cells x pairs) @ (pairs x resamples).
    """
    n, k = measures.shape
    i, j = np.nonzero(~np.eye(n, dtype=bool))  # ordered pairs of two different models
    # counts are integers below n^2 (the w sum to n): exact in float32, which halves the product's time
    dtype = np.float32 if n * n < 2**24 else np.float64
    weights = np.stack([np.bincount(idx, minlength=n) for idx in _draws(n, n_boot, seed)]).astype(dtype)
    pair_weights = np.column_stack([np.ones(len(i), dtype), (weights[:, i] * weights[:, j]).T])
    v_g = _pair_signs(gap, i, j, ties)
    v_mu = _pair_signs(measures, i, j, ties).T  # (k, pairs)
    out = np.empty((k, len(sets), 1 + n_boot))
    for s_index, s in enumerate(sets):
        u = np.zeros(len(i), np.int64)
        for h in s:  # the pair's values of h in both models, one cell per (value_i, value_j)
            levels = codes[:, h].max() + 1
            u = (u * levels + codes[i, h]) * levels + codes[j, h]
        u = np.unique(u, return_inverse=True)[1].ravel()
        n_cells = u.max() + 1
        chunk = max(1, 2**22 // (9 * n_cells * (1 + n_boot)))  # bounds the dense counts' memory
        for start in range(0, k, chunk):
            part = v_mu[start:start + chunk]
            rows = ((np.arange(len(part))[:, None] * n_cells + u) * 3 + v_g) * 3 + part
            columns = np.tile(np.arange(len(i)), len(part))  # the pair of each entry
            cells = sparse.csr_matrix((np.ones(rows.size, dtype), (rows.ravel(), columns)),
                                      shape=(len(part) * n_cells * 9, len(i)))
            counts = (cells @ pair_weights).astype(float).reshape(len(part), n_cells, 3, 3, 1 + n_boot)
            out[start:start + chunk, s_index] = _normalized_cmi(counts)
    return out


def _check_k_arguments(table, names, gap, hyperparameters, max_conditioning, n_boot, level, ties) -> None:
    _check_n_boot(n_boot)
    missing = {gap, *names, *hyperparameters} - set(table.columns)
    if missing:
        raise ValueError(f"table has no column(s) {sorted(missing)}")
    if isinstance(max_conditioning, bool) or not isinstance(max_conditioning, (int, np.integer)) \
            or max_conditioning < 0:
        raise ValueError(f"max_conditioning must be a non-negative integer (the largest conditioning "
                         f"set), got {max_conditioning!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    if ties not in _TIES:
        raise ValueError(f"ties must be one of {_TIES}, got {ties!r}")


def _k_estimates(table, measures, gap, hyperparameters, max_conditioning, n_boot, level, seed, ties):
    """Per measure: (Estimate of K, conditioning names, {names: I^(S)})."""
    g = _as_vector(table[gap], gap)
    _check_varies(g, f"column {gap!r}", "K")
    codes = _codes(table, hyperparameters)
    sets = _conditioning_sets(len(hyperparameters), max_conditioning)
    scores = _cmi_table(measures, g, codes, sets, n_boot, seed, ties)
    names = [tuple(hyperparameters[h] for h in s) for s in sets]
    out = []
    for score in scores:
        best = int(np.argmin(score[:, 0]))  # the first, hence smallest, set attaining the minimum
        est = _estimate(score[best, 0], score[:, 1:].min(0), level, n_boot)
        out.append((est, names[best], dict(zip(names, map(float, score[:, 0])))))
    return out


def conditional_independence(table: pd.DataFrame, measure: str, gap: str, hyperparameters,
                             max_conditioning: int = 2, sign: int = 1, n_boot: int = 200,
                             level: float = 0.95, seed: int = 0, *, ties: str = "sign") -> ConditionalIndependence:
    """Jiang et al.'s K of ``sign * table[measure]`` against ``table[gap]``, with a bootstrap CI.

    K = min over sets S of at most ``max_conditioning`` of ``hyperparameters`` (the empty set
    included) of I(V_mu, V_g | U_S) / H(V_g | U_S), over ordered pairs of two different models
    (definition, sources and departures from the PGDL scoring program: the module's docstring).
    A max_conditioning above the number of hyperparameters is capped at it. The bootstrap resamples
    models with replacement (pairs of a model with its own copy left out) and takes the minimum
    over S afresh on each resample; with the same ``seed`` the resamples are those of
    ``rank_measures``. ``ties='sign'`` makes a tie a third outcome V = 0, ``ties='below'`` reads
    it as -1 (the scoring program's). A constant measure or gap orders no pair: ValueError.
    """
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign!r}")
    hyperparameters = list(hyperparameters)
    _check_k_arguments(table, [measure], gap, hyperparameters, max_conditioning, n_boot, level, ties)
    mu = _as_vector(table[measure], measure) * sign
    _check_varies(mu, f"column {measure!r}", "K")
    (est, conditioning, by_set), = _k_estimates(table, mu[:, None], gap, hyperparameters, max_conditioning,
                                                n_boot, level, seed, ties)
    return ConditionalIndependence(est.value, est.low, est.high, level, n_boot, conditioning, by_set)


def conditional_independence_all(table: pd.DataFrame, signs: dict[str, int], gap: str, hyperparameters,
                                 max_conditioning: int = 2, n_boot: int = 200, level: float = 0.95,
                                 seed: int = 0, *, ties: str = "sign") -> pd.DataFrame:
    """K of every measure in ``signs`` (column -> +1 or -1), on the same resamples: one row each.

    Columns measure, value, low, high, conditioning (the minimizing set's names), as
    ``conditional_independence`` gives one by one. A measure constant over the models has value,
    low and high NaN and a ``note`` (the column only then present), as in ``rank_measures``.
    """
    hyperparameters = list(hyperparameters)
    names = list(signs)
    if not names:
        raise ValueError("signs must name at least one measure column, got {}")
    _check_k_arguments(table, names, gap, hyperparameters, max_conditioning, n_boot, level, ties)
    if any(s not in (1, -1) for s in signs.values()):
        raise ValueError(f"signs must be +1 or -1, got {signs}")
    measures = np.column_stack([_as_vector(table[m], m) * signs[m] for m in names])
    constant = np.all(measures == measures[0], axis=0)
    results = iter(_k_estimates(table, measures[:, ~constant], gap, hyperparameters, max_conditioning,
                                n_boot, level, seed, ties) if not constant.all() else [])
    rows = []
    for m, flat in zip(names, constant):
        if flat:  # orders no pair: no K, and not the 0 with [0, 0] it would read
            rows.append({"measure": m, "value": np.nan, "low": np.nan, "high": np.nan, "conditioning": None,
                         "note": K_CONSTANT_NOTE})
            continue
        est, conditioning, _ = next(results)
        rows.append({"measure": m, "value": est.value, "low": est.low, "high": est.high,
                     "conditioning": conditioning, **({"note": ""} if constant.any() else {})})
    return pd.DataFrame(rows)


# --- the robust view: tau in every environment (Dziugaite et al. 2020, see the module's docstring) --

ENVIRONMENT_COLUMNS = ["hyperparameter", "environment", "n_models", "tau", "note"]


def environment_taus(table: pd.DataFrame, measure: str, gap: str, hyperparameters, sign: int = 1) -> pd.DataFrame:
    """Kendall's tau-a of ``sign * table[measure]`` against the gap in every environment.

    For each hyperparameter h, an environment is a group of models that agree on every other
    hyperparameter and differ in h (the groups of ``granulated_tau``). One row per environment:
    ``hyperparameter`` (h), ``environment`` (the others' values, 'name=value, ...'), ``n_models``,
    ``tau``, and ``note``: where the measure or the gap is constant inside the group, tau is
    undefined, NaN, and the note says why (the row is kept, so that skipped groups can be
    counted). A hyperparameter that varies alone in no group has no rows; if none does: ValueError.
    """
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign!r}")
    hyperparameters = list(hyperparameters)
    missing = {gap, measure, *hyperparameters} - set(table.columns)
    if missing:
        raise ValueError(f"table has no column(s) {sorted(missing)}")
    mu, g = _as_vector(table[measure], measure) * sign, _as_vector(table[gap], gap)
    _check_varies(g, f"column {gap!r}")
    codes = _codes(table, hyperparameters)
    rows = []
    for h, name in enumerate(hyperparameters):
        group = _groups(codes, h)
        for gid in np.unique(group):
            idx = np.flatnonzero(group == gid)
            if len(np.unique(codes[idx, h])) < 2:
                continue  # h does not vary here: not an environment for h
            environment = ", ".join(f"{o}={table[o].iloc[idx[0]]}" for o in hyperparameters if o != name)
            note = ("measure constant in this environment: no tau, skipped" if np.all(mu[idx] == mu[idx[0]])
                    else "gap constant in this environment: no tau, skipped" if np.all(g[idx] == g[idx[0]])
                    else "")
            tau = np.nan if note else kendall_tau(mu[idx], g[idx])
            rows.append({"hyperparameter": name, "environment": environment, "n_models": len(idx),
                         "tau": tau, "note": note})
    if not rows:
        raise ValueError(f"no group of models varies in only one of {hyperparameters}, so there is no "
                         "environment to compute tau in")
    return pd.DataFrame(rows, columns=ENVIRONMENT_COLUMNS)


def robust_summary(table: pd.DataFrame, signs: dict[str, int], gap: str, hyperparameters,
                   quantile: float = 0.1) -> pd.DataFrame:
    """Per measure, the distribution of its tau over environments (``environment_taus``).

    Columns: ``worst`` (the minimum tau over all environments of all hyperparameters) and
    ``worst_environment`` ('h: others' values'), ``quantile_tau`` (the ``quantile``-quantile of the taus, linear
    interpolation), ``mean`` (over all environments: not Psi, see the module's docstring),
    ``psi_mean`` (the mean per hyperparameter, then over hyperparameters, on the same
    environments: Psi but for the skipped groups, which Psi counts as 0), ``n_environments``
    (with a tau) and ``n_skipped`` (measure or gap constant inside). A measure with no
    environment left has NaN statistics and a ``note``.
    """
    if not 0 <= quantile <= 1:
        raise ValueError(f"quantile must lie in [0, 1], got {quantile!r}")
    if not signs:
        raise ValueError("signs must name at least one measure column, got {}")
    if any(s not in (1, -1) for s in signs.values()):
        raise ValueError(f"signs must be +1 or -1, got {signs}")
    rows = []
    for m, s in signs.items():
        envs = environment_taus(table, m, gap, hyperparameters, sign=s)
        kept = envs[envs["note"] == ""]
        row = {"measure": m, "n_environments": len(kept), "n_skipped": len(envs) - len(kept)}
        if len(kept):
            worst = kept.loc[kept["tau"].idxmin()]
            row.update(worst=worst["tau"], worst_environment=f"{worst['hyperparameter']}: {worst['environment']}",
                       quantile_tau=float(np.percentile(kept["tau"], 100 * quantile)), mean=kept["tau"].mean(),
                       psi_mean=kept.groupby("hyperparameter")["tau"].mean().mean(), note="")
        else:
            row.update(worst=np.nan, worst_environment="", quantile_tau=np.nan, mean=np.nan, psi_mean=np.nan,
                       note="constant in every environment: no tau anywhere")
        rows.append(row)
    columns = ["measure", "worst", "worst_environment", "quantile_tau", "mean", "psi_mean", "n_environments",
               "n_skipped", "note"]
    return pd.DataFrame(rows, columns=columns)


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
