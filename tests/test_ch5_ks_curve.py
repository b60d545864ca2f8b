"""esd.ks_curve (Chapter 5's D(x_min) figure): the curve power_law_fit minimizes, checked against
the fit and against a brute-force KS distance."""
import numpy as np
import pytest

from helpers.metrics import esd


@pytest.mark.parametrize("seed", range(3))
def test_ks_curve_argmin_is_the_fit(seed):
    rng = np.random.default_rng(seed)
    x = (1 - rng.random(300)) ** (-1 / 1.8) * np.exp(rng.normal(0, 0.1, 300))  # alpha ~ 2.8
    curve, fit = esd.ks_curve(x), esd.power_law_fit(x)
    i = int(np.argmin(curve.ks_distance))
    assert curve.xmin[i] == fit.xmin and curve.alpha[i] == pytest.approx(fit.alpha, rel=1e-12)
    assert curve.ks_distance[i] == pytest.approx(fit.ks_distance, rel=1e-12)
    assert curve.num_tail[i] == fit.num_tail and len(curve.xmin) == len(x) - 1


def test_ks_curve_matches_brute_force():
    x = np.sort(np.random.default_rng(7).pareto(2.0, 60) + 1)
    curve = esd.ks_curve(x)
    for i in (0, 10, 40, 58):
        tail = x[i:]
        alpha = 1 + len(tail) / np.log(tail / tail[0]).sum()
        fitted = 1 - (tail / tail[0]) ** (1 - alpha)
        empirical = np.arange(len(tail)) / len(tail)
        assert curve.alpha[i] == pytest.approx(alpha, rel=1e-12)
        assert curve.ks_distance[i] == pytest.approx(np.abs(fitted - empirical).max(), rel=1e-9)


def test_ks_curve_refuses_bad_input():
    with pytest.raises(ValueError):
        esd.ks_curve([1.0])
    with pytest.raises(ValueError, match="all equal"):
        esd.ks_curve(np.ones(10))
