"""Kendall's tau and the granulated tau of Chapter 6 against scipy and a hand-built table."""
import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from helpers.metrics import rank


def brute_force_tau_a(mu, g):
    n = len(mu)
    return sum(np.sign(mu[i] - mu[j]) * np.sign(g[i] - g[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))


def test_kendall_tau_matches_scipy_without_ties():
    rng = np.random.default_rng(0)
    mu, g = rng.normal(size=40), rng.normal(size=40)
    g = g + 0.5 * mu
    assert rank.kendall_tau(mu, g) == pytest.approx(kendalltau(mu, g).statistic, abs=1e-12)
    assert rank.kendall_tau(mu, mu) == pytest.approx(1.0) and rank.kendall_tau(mu, -mu) == pytest.approx(-1.0)


def test_kendall_tau_with_ties_tau_b_matches_scipy_and_tau_a_matches_the_definition():
    rng = np.random.default_rng(1)
    mu, g = rng.integers(0, 4, size=30).astype(float), rng.integers(0, 3, size=30).astype(float)
    assert rank.kendall_tau(mu, g, variant="b") == pytest.approx(kendalltau(mu, g).statistic, abs=1e-12)
    assert rank.kendall_tau(mu, g) == pytest.approx(brute_force_tau_a(mu, g), abs=1e-12)
    assert abs(rank.kendall_tau(mu, g)) < abs(rank.kendall_tau(mu, g, variant="b"))  # ties shrink tau-a


def test_granulated_tau_on_a_hand_built_table():
    # gap = width + depth; the measure tracks width exactly but is anti-ordered in depth
    rows = [{"width": w, "depth": d, "gap": w + 10 * d, "measure": w - 10 * d}
            for w, d in itertools.product([1, 2, 3], [1, 2])]
    table = pd.DataFrame(rows)
    psi = rank.granulated_tau(table, "measure", "gap", ["width", "depth"], n_boot=50)
    assert psi["width"].value == pytest.approx(1.0)   # within each depth, width orders both the same way
    assert psi["depth"].value == pytest.approx(-1.0)  # within each width, depth orders them oppositely
    assert psi["Psi"].value == pytest.approx(0.0)
    overall = rank.kendall_tau(table["measure"], table["gap"])
    assert overall == pytest.approx(brute_force_tau_a(table["measure"].to_numpy(), table["gap"].to_numpy()))


def test_bootstrap_interval_contains_the_estimate_and_is_seeded():
    rng = np.random.default_rng(2)
    mu = rng.normal(size=50)
    g = mu + rng.normal(size=50)
    a, b = rank.kendall_tau_ci(mu, g, n_boot=300, seed=3), rank.kendall_tau_ci(mu, g, n_boot=300, seed=3)
    assert a == b and a.low <= a.value <= a.high and 0 < a.low and a.high < 1


@pytest.mark.parametrize("args,match", [
    (([1.0], [2.0]), "at least 2 values"), (([1.0, np.nan], [1.0, 2.0]), "NaN or inf"),
    (([1.0, 2.0, 3.0], [1.0, 2.0]), "same length")])
def test_bad_input_raises(args, match):
    with pytest.raises(ValueError, match=match):
        rank.kendall_tau(*args)
    with pytest.raises(ValueError, match="no column"):
        rank.granulated_tau(pd.DataFrame({"a": [1, 2]}), "m", "a", ["a"])


def test_a_perfect_measure_has_the_interval_one_to_one():
    # A resample repeats some models; a model and its copy tie, and if such pairs counted, every
    # resample's tau would fall below 1 and the interval would miss the estimate. They do not.
    rows = [{"a": a, "b": b, "c": c} for a, b, c in itertools.product([1, 2, 3], [0, 1], [5, 6])]
    table = pd.DataFrame(rows)
    table["gap"] = table["a"] + 0.3 * table["b"] + 0.05 * table["c"]
    table["measure"] = 2 * table["gap"] + 1
    assert rank.kendall_tau_ci(table["measure"], table["gap"], n_boot=100) == rank.Estimate(1.0, 1.0, 1.0, 0.95, 100)
    for est in rank.granulated_tau(table, "measure", "gap", ["a", "b", "c"], n_boot=100).values():
        assert (est.value, est.low, est.high) == (1.0, 1.0, 1.0)
    reversed_ = rank.rank_measures(table, {"measure": -1}, "gap", ["a", "b", "c"], n_boot=100)
    assert (reversed_[["value", "low", "high"]].to_numpy() == -1.0).all()


# --- issue 18: nothing undefined comes back as NaN or as a confident 0 ---------------------------

def _grid():
    rows = [{"width": w, "depth": d} for w, d in itertools.product([1, 2, 3], [1, 2])]
    table = pd.DataFrame(rows)
    table["gap"] = table["width"] + 10 * table["depth"]
    table["measure"] = table["width"] - 10 * table["depth"]
    table["flat"] = 1.0
    return table


@pytest.mark.parametrize("call,error,match", [
    (lambda t: rank.kendall_tau(t["flat"], t["gap"], variant="b"), ValueError, "^measure is constant"),
    (lambda t: rank.kendall_tau(t["flat"], t["gap"]), ValueError, "^measure is constant"),
    (lambda t: rank.kendall_tau(t["measure"], t["flat"]), ValueError, "^gap is constant"),
    (lambda t: rank.kendall_tau_ci(t["flat"], t["gap"], n_boot=10), ValueError, "^measure is constant"),
    (lambda t: rank.granulated_tau(t, "flat", "gap", ["width", "depth"], n_boot=10), ValueError,
     "^column 'flat' is constant"),
    (lambda t: rank.rank_measures(t, {"measure": 1}, "flat", ["width"], n_boot=10), ValueError,
     "^column 'flat' is constant"),
    (lambda t: rank.granulated_tau(t, "measure", "flat", ["width"], n_boot=10), ValueError,
     "^column 'flat' is constant"),
    (lambda t: rank.kendall_tau_ci(t["measure"], t["gap"], n_boot=0), ValueError,
     "^n_boot must be a positive integer.*got 0"),
    (lambda t: rank.granulated_tau(t, "measure", "gap", ["width"], n_boot=0), ValueError,
     "^n_boot must be a positive integer"),
    (lambda t: rank.rank_measures(t, {"measure": 1}, "gap", ["width"], n_boot=0), ValueError,
     "^n_boot must be a positive integer"),
    (lambda t: rank.kendall_tau(["a", "b", "c"], [1, 2, 3]), TypeError,
     "^measure must hold numbers, got values of dtype <U1 such as np.str_\\('a'\\)"),
    (lambda t: rank.kendall_tau([1, 2, 3], ["x", "y", "z"]), TypeError, "^gap must hold numbers"),
])
def test_undefined_statistics_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call(_grid())


def test_granulated_tau_needs_a_group_in_which_one_hyperparameter_varies_alone():
    # width and depth change together: no two models differ in only one of them
    table = pd.DataFrame({"width": [1, 2, 3], "depth": [1, 2, 3], "gap": [0.1, 0.3, 0.2],
                          "measure": [1.0, 3.0, 2.0]})
    with pytest.raises(ValueError, match=r"no group of models varies only in \['width', 'depth'\]"):
        rank.granulated_tau(table, "measure", "gap", ["width", "depth"], n_boot=10)
    with pytest.raises(ValueError, match="no group of models varies in only one of"):
        rank.rank_measures(table, {"measure": 1}, "gap", ["width", "depth"], n_boot=10)
    tau_only = rank.rank_measures(table, {"measure": 1}, "gap", [], n_boot=10)  # what it suggests
    assert list(tau_only.statistic) == ["tau"] and tau_only.value[0] == pytest.approx(1.0)


def test_rank_measures_says_a_constant_measure_ranks_nothing():
    ranking = rank.rank_measures(_grid(), {"measure": 1, "flat": 1}, "gap", ["width", "depth"], n_boot=10)
    flat, measure = ranking[ranking.measure == "flat"], ranking[ranking.measure == "measure"]
    assert flat[["value", "low", "high"]].isna().all().all()  # not tau = 0 with [0, 0]
    assert (flat.note == rank.CONSTANT_NOTE).all() and (measure.note == "").all()
    assert measure.set_index("statistic").loc["width", "value"] == pytest.approx(1.0)


# --- issue 16: Jiang et al.'s conditional-independence score K and the robust view ---------------

def slow_k_by_set(table, measure, gap, hyperparameters, max_conditioning, sign=1, ties="sign", rows=None):
    """I(V_mu, V_g | U_S) / H(V_g | U_S) for every S, by the definition: loops and dictionaries.

    ``rows`` is a resample (row indices, with repeats); pairs of two rows of the same model are left out.
    """
    mu, g = sign * table[measure].to_numpy(float), table[gap].to_numpy(float)
    rows = list(range(len(table))) if rows is None else list(rows)

    def v(d):
        return int(np.sign(d)) if ties == "sign" else (1 if d > 0 else -1)

    pairs = [(a, b) for a in rows for b in rows if a != b]
    out = {}
    for r in range(max_conditioning + 1):
        for s in itertools.combinations(hyperparameters, r):
            cells = {}
            for i, j in pairs:
                u = tuple((table[h].iloc[i], table[h].iloc[j]) for h in s)
                key = (v(g[i] - g[j]), v(mu[i] - mu[j]))
                cells.setdefault(u, {}).setdefault(key, 0)
                cells[u][key] += 1
            info = entropy = 0.0
            for joint in cells.values():
                n_u = sum(joint.values())
                p_u = n_u / len(pairs)
                p_g, p_m = {}, {}
                for (a, b), c in joint.items():
                    p_g[a] = p_g.get(a, 0) + c / n_u
                    p_m[b] = p_m.get(b, 0) + c / n_u
                info += p_u * sum(c / n_u * np.log((c / n_u) / (p_g[a] * p_m[b])) for (a, b), c in joint.items())
                entropy -= p_u * sum(p * np.log(p) for p in p_g.values())
            out[s] = info / entropy if entropy > 0 else 0.0
    return out


def _random_table(seed=0, n=14):
    rng = np.random.default_rng(seed)  # unequal cells, ties in the measure and in the gap
    return pd.DataFrame({"a": rng.integers(0, 3, n), "b": rng.integers(0, 2, n), "c": rng.choice([0.5, 2.0], n),
                         "gap": rng.integers(0, 5, n).astype(float),
                         "m": rng.integers(0, 4, n).astype(float) + 0.5 * rng.integers(0, 2, n)})


@pytest.mark.parametrize("sign,ties", [(1, "sign"), (-1, "sign"), (1, "below"), (-1, "below")])
def test_k_equals_the_definition_computed_by_loops(sign, ties):
    table = _random_table()
    got = rank.conditional_independence(table, "m", "gap", ["a", "b", "c"], sign=sign, n_boot=3, ties=ties)
    slow = slow_k_by_set(table, "m", "gap", ["a", "b", "c"], 2, sign=sign, ties=ties)
    assert got.by_set.keys() == slow.keys() and len(slow) == 1 + 3 + 3
    for s in slow:
        assert got.by_set[s] == pytest.approx(slow[s], abs=1e-12), s
    assert got.value == pytest.approx(min(slow.values()), abs=1e-12)
    assert slow[got.conditioning] == pytest.approx(got.value, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_bootstrap_resample_is_the_definition_on_the_resampled_models(seed):
    # n_boot=1: the interval is that one resample's K; the resample is rank_measures' first draw
    table = _random_table(seed=3, n=12)
    got = rank.conditional_independence(table, "m", "gap", ["a", "b"], max_conditioning=1, n_boot=1, seed=seed)
    idx = np.random.default_rng(seed).integers(0, len(table), len(table))
    k = min(slow_k_by_set(table, "m", "gap", ["a", "b"], 1, rows=idx).values())
    assert got.low == pytest.approx(k, abs=1e-12) and got.high == pytest.approx(k, abs=1e-12)


def test_a_measure_equal_to_the_gap_has_k_one_with_the_interval_one_to_one():
    rng = np.random.default_rng(4)
    rows = [{"a": a, "b": b, "c": c} for a, b, c in itertools.product([1, 2, 3], [0, 1], [5, 6])] * 2
    table = pd.DataFrame(rows)
    table["gap"] = table["a"] + 0.3 * table["b"] + rng.normal(size=len(table))
    table["measure"] = 2 * table["gap"] + 1
    k = rank.conditional_independence(table, "measure", "gap", ["a", "b", "c"], n_boot=100)
    assert (k.value, k.low, k.high, k.conditioning) == (1.0, 1.0, 1.0, ())
    assert all(v == 1.0 for v in k.by_set.values())
    # K is dependence, not direction: a measure that orders every pair backwards also has K = 1
    backwards = rank.conditional_independence(table, "measure", "gap", ["a", "b", "c"], sign=-1, n_boot=100)
    assert (backwards.value, backwards.low, backwards.high) == pytest.approx((1.0, 1.0, 1.0), abs=1e-12)


def test_a_proxy_of_the_hyperparameter_that_drives_the_gap_has_k_zero_given_it():
    # gap = h1 + noise smaller than the spacing of h1, the measure a function of h1 alone. Given
    # (h1_i, h1_j): across two values of h1 both orderings are fixed; within one value the measure
    # ties and says nothing about the noise. So I(V_mu, V_g | U_h1) = 0 exactly, while the measure
    # still ranks the whole zoo well (the empty set).
    rng = np.random.default_rng(5)
    rows = [{"h1": a, "h2": b, "h3": c} for a, b, c in itertools.product([1, 2, 3], [0, 1], [0, 1])] * 3
    table = pd.DataFrame(rows)
    table["gap"] = table["h1"] + 0.01 * rng.uniform(-1, 1, len(table))
    table["proxy"] = 10.0 * table["h1"] ** 2
    k = rank.conditional_independence(table, "proxy", "gap", ["h1", "h2", "h3"], n_boot=100)
    assert k.conditioning == ("h1",)
    assert (k.value, k.low, k.high) == pytest.approx((0.0, 0.0, 0.0), abs=1e-12)
    assert k.by_set[()] > 0.5 and k.by_set[("h2",)] > 0.5
    assert rank.kendall_tau(table["proxy"], table["gap"]) > 0.6  # a good tau, for the wrong reason


def test_k_on_a_hand_computed_table():
    # Four models, one hyperparameter h, gap 1 < 2 < 3 < 4; the measure ties the first two.
    # 12 ordered pairs; (V_g, V_mu) with a tie as 0:
    #   (0,1): (-1, 0)  (1,0): (+1, 0)  and the 10 other pairs agree: 5 x (+1,+1), 5 x (-1,-1).
    # S = {}: p(V_g) = (1/2, 1/2), p(V_mu = +-1) = 5/12 each, p(V_mu = 0) = 2/12;
    #   I = 2 (5/12) log[(5/12) / ((1/2)(5/12))] + 2 (1/12) log[(1/12) / ((1/2)(2/12))]
    #     = (5/6) log 2 + (1/6) log 1 = (5/6) log 2,  H(V_g) = log 2,  so I^ = 5/6.
    # S = {h}: cells (h_i, h_j) with p(u) = 2/12, 2/12, 4/12, 4/12:
    #   (0,0): pairs (0,1), (1,0): V_mu = 0 in both, so I_u = 0, H_u = log 2;
    #   (1,1): pairs (2,3), (3,2): (-1,-1), (+1,+1), so I_u = H_u = log 2;
    #   (0,1), (1,0): V_g constant, I_u = H_u = 0.
    #   I = (2/12) log 2, H = (4/12) log 2, so I^ = 1/2, and K = min(5/6, 1/2) = 1/2 given h.
    # With ties='below' (the PGDL scoring program's: a tie is -1) the pair (1,0) is (+1,-1) and
    # (0,1) is (-1,-1): S = {}: counts (+,+) 5, (-,-) 6, (+,-) 1; p(V_mu = +1) = 5/12, -1: 7/12;
    #   I = (5/12) log 2 + (1/2) log(12/7) + (1/12) log(2/7); S = {h} is unchanged: 1/2.
    table = pd.DataFrame({"h": [0, 0, 1, 1], "gap": [1.0, 2.0, 3.0, 4.0], "measure": [1.0, 1.0, 3.0, 4.0]})
    k = rank.conditional_independence(table, "measure", "gap", ["h"], n_boot=10)
    assert k.by_set[()] == pytest.approx(5 / 6, abs=1e-12)
    assert k.by_set[("h",)] == pytest.approx(1 / 2, abs=1e-12)
    assert k.value == pytest.approx(1 / 2, abs=1e-12) and k.conditioning == ("h",)
    below = rank.conditional_independence(table, "measure", "gap", ["h"], n_boot=10, ties="below")
    info = 5 / 12 * np.log(2) + 1 / 2 * np.log(12 / 7) + 1 / 12 * np.log(2 / 7)
    assert below.by_set[()] == pytest.approx(info / np.log(2), abs=1e-12)
    assert below.by_set[("h",)] == pytest.approx(1 / 2, abs=1e-12)
    only_empty = rank.conditional_independence(table, "measure", "gap", ["h"], max_conditioning=0, n_boot=10)
    assert only_empty.value == pytest.approx(5 / 6, abs=1e-12) and only_empty.conditioning == ()


def test_k_of_the_empty_set_is_one_minus_the_binary_entropy_of_the_concordance():
    # no ties, ordered pairs: V_mu = V_g on a fraction (1 + tau) / 2 of them, both V's symmetric
    rng = np.random.default_rng(6)
    table = pd.DataFrame({"gap": rng.normal(size=30)})
    table["measure"] = table["gap"] + rng.normal(size=30)
    tau = rank.kendall_tau(table["measure"], table["gap"])
    p = (1 + tau) / 2
    k = rank.conditional_independence(table, "measure", "gap", [], n_boot=10)
    assert k.value == pytest.approx(1 + p * np.log2(p) + (1 - p) * np.log2(1 - p), abs=1e-12)


def test_k_of_many_measures_equals_k_one_by_one():
    table = _random_table(seed=7, n=20)
    table["m2"] = table["gap"] + table["a"]
    table["flat"] = 3.0
    many = rank.conditional_independence_all(table, {"m": 1, "m2": -1, "flat": 1}, "gap", ["a", "b", "c"],
                                             n_boot=50, seed=2)
    for m, s in [("m", 1), ("m2", -1)]:
        one = rank.conditional_independence(table, m, "gap", ["a", "b", "c"], sign=s, n_boot=50, seed=2)
        row = many.set_index("measure").loc[m]
        assert (row.value, row.low, row.high, row.conditioning) == (one.value, one.low, one.high, one.conditioning)
        assert row.note == ""
    flat = many.set_index("measure").loc["flat"]
    assert np.isnan([flat.value, flat.low, flat.high]).all() and flat.note == rank.K_CONSTANT_NOTE
    assert "note" not in rank.conditional_independence_all(table, {"m": 1}, "gap", ["a"], n_boot=5).columns


def _environments_table():
    # gap = width + 10 depth. Per environment (the other hyperparameter fixed), tau-a of the measure:
    #   width varies, depth = 1: measure 1, 2, 3 -> +1;  depth = 2: measure 3, 1, 4 -> (-1 + 1 + 1) / 3 = 1/3
    #   depth varies, width = 1: 1 -> 3: +1;  width = 2: 2 -> 1: -1;  width = 3: 3 -> 4: +1
    # "silent": as "measure" but width = 2, depth = 2 reads 4 and width = 3, depth = 2 reads 3 (a tie):
    #   width varies, depth = 1: +1; depth = 2: 3, 4, 3 -> (+1 + 0 - 1) / 3 = 0
    #   depth varies, width = 1: +1; width = 2: 2 -> 4: +1; width = 3: 3 -> 3: constant, skipped
    rows = [{"width": w, "depth": d} for d in (1, 2) for w in (1, 2, 3)]
    table = pd.DataFrame(rows)
    table["gap"] = table["width"] + 10.0 * table["depth"]
    table["measure"] = [1.0, 2.0, 3.0, 3.0, 1.0, 4.0]
    table["silent"] = [1.0, 2.0, 3.0, 3.0, 4.0, 3.0]
    return table


def test_environment_taus_on_a_hand_built_table():
    table = _environments_table()
    envs = rank.environment_taus(table, "measure", "gap", ["width", "depth"])
    assert list(envs.columns) == rank.ENVIRONMENT_COLUMNS
    assert list(envs.environment) == ["depth=1", "depth=2", "width=1", "width=2", "width=3"]
    assert list(envs.hyperparameter) == ["width"] * 2 + ["depth"] * 3
    assert list(envs.n_models) == [3, 3, 2, 2, 2]
    assert envs.tau.to_numpy() == pytest.approx([1, 1 / 3, 1, -1, 1], abs=1e-12)
    assert (envs.note == "").all()
    reversed_ = rank.environment_taus(table, "measure", "gap", ["width", "depth"], sign=-1)
    assert reversed_.tau.to_numpy() == pytest.approx(-envs.tau.to_numpy(), abs=1e-12)
    silent = rank.environment_taus(table, "silent", "gap", ["width", "depth"])
    assert silent.tau.to_numpy()[:4] == pytest.approx([1, 0, 1, 1], abs=1e-12) and np.isnan(silent.tau.iloc[4])
    assert silent.note.iloc[4].startswith("measure constant") and (silent.note.iloc[:4] == "").all()
    tied_gap = table.assign(gap=table["gap"].where(~((table.width == 3) & (table.depth == 2)), 13.0))
    notes = rank.environment_taus(tied_gap, "measure", "gap", ["width", "depth"]).note
    assert notes.iloc[4].startswith("gap constant") and (notes.iloc[:4] == "").all()


def test_robust_summary_on_a_hand_built_table():
    table = _environments_table()
    summary = rank.robust_summary(table, {"measure": 1, "silent": 1}, "gap", ["width", "depth"]).set_index("measure")
    m = summary.loc["measure"]
    assert m.worst == pytest.approx(-1.0) and m.worst_environment == "depth: width=2"
    assert m.quantile_tau == pytest.approx(-7 / 15)  # 10th percentile of -1, 1/3, 1, 1, 1: -1 + 0.4 (4/3)
    assert m["mean"] == pytest.approx(7 / 15)    # (1 + 1/3 + 1 - 1 + 1) / 5
    assert m.psi_mean == pytest.approx(1 / 2)    # ((1 + 1/3) / 2 + (1 - 1 + 1) / 3) / 2: not the mean
    psi = rank.granulated_tau(table, "measure", "gap", ["width", "depth"], n_boot=10)["Psi"].value
    assert m.psi_mean == pytest.approx(psi)      # no group skipped: Psi itself
    assert (m.n_environments, m.n_skipped, m.note) == (5, 0, "")
    s = summary.loc["silent"]
    assert (s.n_environments, s.n_skipped) == (4, 1)
    assert s.worst == pytest.approx(0.0) and s["mean"] == pytest.approx(3 / 4)
    assert s.psi_mean == pytest.approx(3 / 4)    # (1/2 + 1) / 2 over the groups with a tau ...
    psi = rank.granulated_tau(table, "silent", "gap", ["width", "depth"], n_boot=10)["Psi"].value
    assert psi == pytest.approx(7 / 12)          # ... Psi counts the silent group as 0: (1/2 + 2/3) / 2
    flat = rank.robust_summary(table.assign(flat=1.0), {"flat": 1}, "gap", ["width", "depth"]).iloc[0]
    assert np.isnan(flat.worst) and flat.n_skipped == 5 and flat.note != ""


@pytest.mark.parametrize("call,match", [
    (lambda t: rank.conditional_independence(t, "nope", "gap", ["width"]), r"no column\(s\) \['nope'\]"),
    (lambda t: rank.conditional_independence(t, "measure", "gap", ["nope"]), r"no column\(s\) \['nope'\]"),
    (lambda t: rank.conditional_independence(t, "flat", "gap", ["width"]), "^column 'flat' is constant.*K is undefined"),
    (lambda t: rank.conditional_independence(t, "measure", "flat", ["width"]), "^column 'flat' is constant"),
    (lambda t: rank.conditional_independence(t, "measure", "gap", ["width"], max_conditioning=-1),
     "^max_conditioning must be a non-negative integer.*got -1"),
    (lambda t: rank.conditional_independence(t, "measure", "gap", ["width"], max_conditioning=1.5),
     "^max_conditioning must be a non-negative integer"),
    (lambda t: rank.conditional_independence(t, "measure", "gap", ["width"], max_conditioning=True),
     "^max_conditioning must be a non-negative integer"),
    (lambda t: rank.conditional_independence(t, "measure", "gap", ["width"], sign=0), r"^sign must be \+1 or -1, got 0"),
    (lambda t: rank.conditional_independence(t, "measure", "gap", ["width"], n_boot=0), "^n_boot must be a positive"),
    (lambda t: rank.conditional_independence(t, "measure", "gap", ["width"], level=1.0), r"^level must lie in \(0, 1\)"),
    (lambda t: rank.conditional_independence(t, "measure", "gap", ["width"], ties="drop"), "^ties must be one of"),
    (lambda t: rank.conditional_independence_all(t, {"measure": 2}, "gap", ["width"]), "^signs must be"),
    (lambda t: rank.conditional_independence_all(t, {}, "gap", ["width"]), "^signs must name at least one"),
    (lambda t: rank.conditional_independence_all(t, {"measure": 1}, "flat", ["width"]), "^column 'flat' is constant"),
    (lambda t: rank.environment_taus(t, "measure", "gap", ["width"], sign=2), r"^sign must be \+1 or -1"),
    (lambda t: rank.environment_taus(t, "measure", "nope", ["width"]), r"no column\(s\) \['nope'\]"),
    (lambda t: rank.environment_taus(t, "measure", "flat", ["width"]), "^column 'flat' is constant"),
    (lambda t: rank.environment_taus(t.assign(depth=t["width"]), "measure", "gap", ["width", "depth"]),
     "^no group of models varies in only one of"),
    (lambda t: rank.robust_summary(t, {"measure": 1}, "gap", ["width"], quantile=10), r"^quantile must lie in \[0, 1\]"),
])
def test_k_and_the_robust_view_name_the_bad_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call(_grid())


def test_k_takes_well_under_two_seconds_on_a_chapter_sized_zoo():
    import time
    rng = np.random.default_rng(8)
    levels = [[1, 2, 3], [1, 2], [1, 2], [1, 2], [1, 2, 3]]
    table = pd.DataFrame(list(itertools.product(*levels)), columns=list("abcde"))
    table = pd.concat([table, table.iloc[:24]], ignore_index=True)  # 96 models, unequal cells
    table["gap"] = table["a"] + rng.normal(size=len(table))
    table["measure"] = table["gap"] + rng.normal(size=len(table))
    start = time.perf_counter()
    rank.conditional_independence(table, "measure", "gap", list("abcde"), n_boot=200)
    assert time.perf_counter() - start < 2.0


def test_paired_differences_are_the_difference_of_rank_measures_on_the_same_resamples():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"a": np.repeat([0, 1, 2, 3], 6), "b": np.tile([0, 1, 2], 8)})
    table["gap"] = table["a"] + 0.5 * table["b"] + rng.normal(0, 0.3, len(table))
    table["good"] = table["gap"] + rng.normal(0, 0.1, len(table))
    table["bad"] = rng.normal(size=len(table))
    signs = {"good": 1, "bad": -1}
    ranked = rank.rank_measures(table, signs, "gap", ["a", "b"], n_boot=50, seed=4)
    psi = ranked[ranked.statistic == "Psi"].set_index("measure")["value"]
    diff = rank.paired_differences(table, signs, "gap", ["a", "b"], [("good", "bad")], n_boot=50, seed=4)
    assert diff.loc[0, "value"] == pytest.approx(psi["good"] - psi["bad"], abs=1e-12)
    assert diff.loc[0, "low"] > 0  # the planted measure beats noise on every resample's percentile
    # a measure against itself: exactly 0 on every resample, so the interval is [0, 0]
    same = rank.paired_differences(table, signs, "gap", ["a", "b"], [("bad", "bad")], statistic="a", n_boot=20)
    assert same.loc[0, ["value", "low", "high"]].tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="statistic"):
        rank.paired_differences(table, signs, "gap", ["a", "b"], [("good", "bad")], statistic="c")
    with pytest.raises(ValueError, match="pairs"):
        rank.paired_differences(table, signs, "gap", ["a", "b"], [("good", "other")])


def test_permute_measures_moves_the_measures_together_and_nothing_else():
    table = pd.DataFrame({"h": [0, 0, 1, 1, 2], "gap": [1.0, 2, 3, 4, 5], "m1": [10, 20, 30, 40, 50],
                          "m2": [1, 2, 3, 4, 5]})
    out = rank.permute_measures(table, ["m1", "m2"], seed=1)
    assert out[["h", "gap"]].equals(table[["h", "gap"]])
    assert sorted(out["m1"]) == sorted(table["m1"]) and (out["m1"] == 10 * out["m2"]).all()  # one permutation
    assert not out["m1"].equals(table["m1"])
    with pytest.raises(ValueError, match="m3"):
        rank.permute_measures(table, ["m3"], seed=0)
