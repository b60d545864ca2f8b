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
