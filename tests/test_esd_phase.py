"""Chapter 5's phase diagnosis (issue 15): Martin & Mahoney's phases from measurements, on matrices
whose phase is known by construction (seeded, every draw checked), and the measurements' parts:
the Marchenko-Pastur fit, the Tracy-Widom margin, the likelihood-ratio tests and the shuffled control."""
import json
import math
import warnings

import numpy as np
import pytest
import torch
from scipy import optimize, stats
from torch import nn

from helpers.metrics import esd

SEEDS = range(5)
N, M = 512, 256
BBP = (N * M) ** 0.25  # theta u v^T (unit u, v) leaves the bulk of W^T W when theta > (NM)^(1/4)


def generator(seed):
    return torch.Generator().manual_seed(seed)


def gaussian(seed, n=N, m=M, sigma=1.0):
    return sigma * torch.randn(n, m, generator=generator(seed), dtype=torch.float64)


def orthonormal(rows, k, g):
    return torch.linalg.qr(torch.randn(rows, k, generator=g, dtype=torch.float64))[0]


def spiked(seed, k, strengths=(3.0, 5.0)):
    """Gaussian noise plus k orthogonal rank-one signals of strength 3 to 5 times the BBP threshold."""
    g = generator(1000 + seed)
    u, v = orthonormal(N, k, g), orthonormal(M, k, g)
    theta = BBP * torch.linspace(*strengths, k, dtype=torch.float64)
    return gaussian(seed) + (u * theta) @ v.T


def student_t(seed, df=1.5):
    """iid Student-t entries: tail index mu = df; mu < 2 is Martin & Mahoney's very heavy-tailed class."""
    return torch.from_numpy(np.random.default_rng(seed).standard_t(df, size=(N, M)))


def low_rank(seed, rank=10):
    g = generator(seed)
    left = torch.randn(N, rank, generator=g, dtype=torch.float64)
    return left @ torch.randn(rank, M, generator=g, dtype=torch.float64)


# --- the phases of matrices with a known answer -----------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_a_gaussian_matrix_is_random_like(seed):
    d = esd.diagnose_matrix(gaussian(seed), seed=seed)
    assert d.phase == "random-like" and d.num_spikes == 0 and d.rank_loss == 0
    assert d.shuffled.phase == "random-like" and d.shuffled.num_spikes == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_planted_spikes_are_counted_and_shuffling_removes_them(seed):
    k = 3 + seed % 3  # 3, 4 or 5 spikes
    d = esd.diagnose_matrix(spiked(seed, k), seed=seed)
    assert d.phase == "bulk+spikes" and d.num_spikes == k
    assert d.mp.sigma2 == pytest.approx(1.0, rel=0.05)  # the bulk is the noise's MP law
    assert d.shuffled.phase == "random-like" and d.shuffled.num_spikes == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_very_heavy_tailed_entries_give_a_heavy_tailed_esd_and_the_control_keeps_it(seed):
    d = esd.diagnose_matrix(student_t(seed), seed=seed)
    assert d.phase == "heavy-tailed"
    assert 1.5 < d.power_law.alpha < 2.1  # the very heavy-tailed class: alpha = 1 + mu / 2 = 1.75
    assert d.exponential.statistic > 0 and d.exponential.p_value < esd.LR_P_VALUE
    assert d.shuffled.phase == "heavy-tailed"  # iid entries: shuffling changes nothing


@pytest.mark.parametrize("seed", SEEDS)
def test_a_low_rank_matrix_is_rank_collapse(seed):
    w = low_rank(seed)
    for matrix in (w, w.float()):  # float64, and rounded to float32 as a layer's weights are
        d = esd.diagnose_matrix(matrix, seed=seed)
        assert d.phase == "rank-collapse" and d.rank_loss == M - 10
    assert d.shuffled.phase != "rank-collapse" and d.shuffled.rank_loss == 0  # shuffled: full rank again


@pytest.mark.parametrize("seed", range(3))
def test_a_signal_of_rank_40_bleeds_out_of_the_bulk(seed):
    """40 spikes (16 % of M, more than SPIKE_FRACTION) on an MP bulk, no power-law tail."""
    d = esd.diagnose_matrix(spiked(seed, 40, strengths=(2.0, 3.0)), seed=seed)
    assert d.phase == "bleeding-out" and d.num_spikes == 40
    assert d.shuffled.phase == "random-like"


@pytest.mark.parametrize("seed", range(3))
def test_unequal_column_variances_deform_the_bulk(seed):
    """W = G D: its ESD is the generalized (Silverstein-Bai) MP law, not MP, with a compact
    support and no power-law tail; shuffling mixes the columns and gives MP back."""
    column_sd = torch.linspace(0.1, 3.0, M, dtype=torch.float64).sqrt()
    d = esd.diagnose_matrix(gaussian(seed) * column_sd, seed=seed)
    assert d.phase == "bulk-decay" and d.mp.ks_distance > esd.KS_CRITICAL / math.sqrt(d.mp.num_bulk)
    assert d.shuffled.phase == "random-like"


def test_the_diagnosis_is_scale_invariant():
    w = spiked(0, 4)
    a, b = esd.diagnose_matrix(w), esd.diagnose_matrix(1e-2 * w)
    assert (a.phase, a.num_spikes, a.shuffled.phase) == (b.phase, b.num_spikes, b.shuffled.phase)
    assert b.mp.sigma2 == pytest.approx(1e-4 * a.mp.sigma2, rel=1e-9)
    assert b.exponential.statistic == pytest.approx(a.exponential.statistic, rel=1e-6, abs=1e-9)


# --- Marchenko-Pastur fit and Tracy-Widom margin -----------------------------------------------

@pytest.mark.parametrize("shape", [(512, 256), (256, 40), (512, 512)])
@pytest.mark.parametrize("seed", SEEDS)
def test_mp_fit_recovers_the_variance_of_a_gaussian_matrix(shape, seed):
    n, m = shape
    w = gaussian(seed, n, m, sigma=0.3)
    fit = esd.mp_fit(esd.esd(w), n, m)
    assert fit.sigma2 == pytest.approx(0.09, rel=0.03)                       # the law's variance
    assert fit.sigma2 == pytest.approx((w ** 2).mean().item(), rel=0.01)     # this matrix's own
    assert fit.num_spikes == 0 and fit.num_bulk == m
    assert fit.lambda_plus == pytest.approx(esd.mp_bounds(n, m, fit.sigma2)[1])


def test_tracy_widom_quantiles_match_the_tables():
    """F_1's quantiles as tabulated (Tracy & Widom 1996; e.g. Johnstone 2001, Table 1)."""
    for level, q in ((0.90, 0.4501), (0.95, 0.9793), (0.99, 2.0234)):
        assert esd.tracy_widom_quantile(level) == pytest.approx(q, abs=1e-4)
    assert esd.tracy_widom_cdf(-1.2065335745820) == pytest.approx(0.5197, abs=1e-3)  # F_1 at its mean


def test_the_tracy_widom_margin_holds_for_gaussian_matrices():
    """1000 Gaussian 200 x 100 matrices: (lambda_max - lambda_+) / tw_scale has F_1's spread, and the
    edges at F_1's quantiles are passed no more often than the level says (a little less at this
    size: lambda_+ is centred at N, not Johnstone's N - 1)."""
    n, m = 200, 100
    w = torch.randn(1000, n, m, generator=generator(0), dtype=torch.float64)
    z = (torch.linalg.eigvalsh(w.mT @ w)[:, -1].numpy() - esd.mp_bounds(n, m)[1]) / esd.tw_scale(n, m)
    assert z.std() == pytest.approx(1.268, rel=0.1)
    assert 0.05 <= np.mean(z > esd.tracy_widom_quantile(0.9)) <= 0.12
    assert np.mean(z > esd.tracy_widom_quantile(0.99)) <= 0.015
    edge = esd.mp_bounds(n, m)[1] + 3.2722 * esd.tw_scale(n, m)
    assert esd.spike_edge(n, m) == pytest.approx(edge, rel=1e-4)


def test_pooled_slices_widen_the_edge_by_sidak():
    one, nine = esd.spike_edge(300, 100, 2.0), esd.spike_edge(300, 100, 2.0, slices=9)
    c9 = esd.tracy_widom_quantile(esd.TW_LEVEL ** (1 / 9))
    c1 = esd.tracy_widom_quantile(esd.TW_LEVEL)
    assert nine - one == pytest.approx((c9 - c1) * esd.tw_scale(300, 100, 2.0))
    assert nine > one


# --- likelihood-ratio tests ----------------------------------------------------------------------

def pareto(alpha, n, seed, xmin=1.0):
    return xmin * (1 - np.random.default_rng(seed).random(n)) ** (-1 / (alpha - 1))


@pytest.mark.parametrize("seed", SEEDS)
def test_the_lr_test_prefers_the_power_law_on_pareto_samples(seed):
    x = pareto(2.5, 2000, seed)
    r = esd.likelihood_ratio_test(x, "exponential")
    assert r.statistic > 0 and r.p_value < 0.1
    fit = esd.power_law_fit(x, xmin=float(x.min()))
    assert esd.likelihood_ratio_test(x, "exponential", fit).statistic > 0
    # a lognormal with sigma -> inf is a power law: it cannot be rejected, nor does it win
    assert esd.likelihood_ratio_test(x, "lognormal", fit).p_value > 0.1


@pytest.mark.parametrize("seed", SEEDS)
def test_the_lr_test_prefers_the_alternative_on_its_own_samples(seed):
    rng = np.random.default_rng(seed)
    for alternative, x in (("exponential", 1.0 + rng.exponential(1.0, 2000)),
                           ("lognormal", rng.lognormal(0.0, 0.5, 2000))):
        fit = esd.power_law_fit(x, xmin=float(np.quantile(x, 0.3)))
        r = esd.likelihood_ratio_test(x, alternative, fit)
        assert r.statistic < 0 and r.p_value < 0.1, alternative
        assert r.p_value == pytest.approx(math.erfc(abs(r.statistic) / math.sqrt(2)))


def test_the_exponential_mle_is_closed_form():
    x = 2.0 + np.random.default_rng(3).exponential(0.5, 1000)
    fit = esd.power_law_fit(x, xmin=2.0 + 1e-12)
    tail = x[x >= fit.xmin]
    rate = esd.likelihood_ratio_test(x, "exponential", fit).parameters[0]
    assert rate == pytest.approx(1 / (tail - fit.xmin).mean())


def test_the_truncated_lognormal_is_the_maximum_likelihood_fit():
    """Its log-likelihood is at least that of a brute-force search from several starts."""
    x = np.random.default_rng(4).lognormal(0.0, 1.5, 1500)
    fit = esd.power_law_fit(x, xmin=float(np.quantile(x, 0.6)))
    tail, z0 = x[x >= fit.xmin], math.log(fit.xmin)
    r = esd.likelihood_ratio_test(x, "lognormal", fit)
    mu, sigma = r.parameters

    def loglik(mu, sigma):  # the density of ln x, truncated to ln x >= ln xmin, over x
        z = np.log(tail)
        return float((stats.norm.logpdf(z, mu, sigma) - z - stats.norm.logsf(z0, mu, sigma)).sum())

    best = max(-optimize.minimize(lambda p: -loglik(p[0], math.exp(p[1])), start, method="Nelder-Mead",
                                  options={"xatol": 1e-9, "fatol": 1e-10, "maxiter": 20_000}).fun
               for start in ([np.log(tail).mean(), 0.0], [z0 - 3, 1.0], [z0, -1.0]))
    assert loglik(mu, sigma) >= best - 1e-6
    pl = (math.log(fit.alpha - 1) - math.log(fit.xmin) - fit.alpha * np.log(tail / fit.xmin)).sum()
    assert r.log_ratio == pytest.approx(pl - loglik(mu, sigma), rel=1e-9)


def test_the_lr_test_agrees_with_the_powerlaw_package():
    """powerlaw 2.0.0 (pinned) with the same x_min: its power law is the same closed-form MLE for
    alpha in (1.5, 3]; its exponential and lognormal are fitted numerically, ours exactly, so ours
    match to its optimizer's precision and our lognormal is never the worse fit."""
    import powerlaw
    rng = np.random.default_rng(5)
    for x in (pareto(2.5, 2000, 6), rng.lognormal(0.0, 3.0, 2000)):
        fit = esd.power_law_fit(x, xmin=float(np.quantile(x, 0.5)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = powerlaw.Fit(x, xmin=fit.xmin, verbose=False)
            assert theirs.power_law.alpha == pytest.approx(fit.alpha, rel=1e-9)
            r_exp, p_exp = theirs.distribution_compare("power_law", "exponential", normalized_ratio=True)
            raw_ln, _ = theirs.distribution_compare("power_law", "lognormal")
        ours = esd.likelihood_ratio_test(x, "exponential", fit)
        assert ours.statistic == pytest.approx(r_exp, abs=2e-3)
        assert ours.p_value == pytest.approx(p_exp, rel=0.05, abs=1e-12)
        assert esd.likelihood_ratio_test(x, "lognormal", fit).log_ratio <= raw_ln + 1e-6


# --- the analyzer's columns ---------------------------------------------------------------------

def model_with(weight):
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        layer.weight.copy_(weight)
    return nn.Sequential(layer)


def test_analyze_reports_diagnose_matrix_per_layer():
    w = spiked(0, 4).float()
    model = model_with(w.T)  # weight (256, 512): layer_matrices transposes it to N >= M
    df = esd.analyze(model, seed=7)
    assert list(df.columns) == list(esd.COLUMNS) and len(df) == 1
    assert df.loc[0, "phase"] == "bulk+spikes" and df.loc[0, "num_spikes"] == 4
    d = esd.diagnose_matrix(model[0].weight, seed=7)
    assert df.loc[0, list(esd.PHASE_COLUMNS) + list(esd.CONTROL_COLUMNS)].to_dict() == d.row()
    assert df.loc[0, "alpha_shuffled"] == d.shuffled.power_law.alpha
    json.dumps(df.to_dict("records"), allow_nan=False)  # the zoo caches the rows as JSON


def test_controls_false_leaves_out_the_shuffled_columns_and_nothing_else_changes():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(100, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 64))
    full, bare = esd.analyze(model), esd.analyze(model, controls=False)
    assert list(bare.columns) == list(esd.METRIC_COLUMNS + esd.PHASE_COLUMNS)
    assert full[list(bare.columns)].equals(bare)
    assert (full["phase"] == "random-like").all() and (full["phase_shuffled"] == "random-like").all()


def test_conv_layers_are_diagnosed_on_their_pooled_slices():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(64, 128, 3), nn.ReLU(), nn.Conv1d(128, 256, 3))
    df = esd.analyze(model)
    assert (df["phase"] == "random-like").all() and (df["num_spikes"] == 0).all()
    w = model[0].weight.detach().flatten(2).permute(2, 0, 1)  # its 9 slices (128 out, 64 in)
    d = esd.diagnose_matrix(w)
    assert d.phase == "random-like" and d.row() == esd.diagnose_matrix(w.mT).row()
    assert d.mp.sigma2 == pytest.approx(2 * df.loc[0, "sigma2_mp"], rel=1e-9)  # conv2d_norm halves the ESD


def test_shuffle_entries_is_a_seeded_permutation():
    w = torch.arange(60.0).reshape(3, 4, 5)
    a, b, c = esd.shuffle_entries(w, 1), esd.shuffle_entries(w, 1), esd.shuffle_entries(w, 2)
    assert a.shape == w.shape and torch.equal(a.flatten().sort().values, w.flatten())
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, w)


# --- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("call,match", [
    (lambda: esd.diagnose_matrix("W"), "W must be"),
    (lambda: esd.diagnose_matrix(torch.zeros(3, 4, 5, 6)), "W must be"),
    (lambda: esd.diagnose_matrix(torch.ones(5, 4, dtype=torch.int64)), "W must be"),
    (lambda: esd.diagnose(np.ones(10), 20, 12), "eigenvalues must be the 1 \\* 12"),
    (lambda: esd.diagnose(np.zeros(12), 20, 12), "at least 2"),
    (lambda: esd.diagnose(np.arange(1.0, 13.0), 10, 12), "N >= M"),
    (lambda: esd.mp_fit(np.arange(1.0, 13.0), 20, 12, slices=0), "slices"),
    (lambda: esd.likelihood_ratio_test(pareto(2.5, 100, 0), "gamma"), "alternative"),
    (lambda: esd.likelihood_ratio_test(pareto(2.5, 100, 0), fit=2.5), "fit must be a PowerLawFit"),
    (lambda: esd.tracy_widom_quantile(1.0), "level"),
    (lambda: esd.shuffle_entries(np.ones((3, 3))), "matrices must be"),
    (lambda: esd.shuffle_entries(torch.ones(3, 3), seed=0.5), "seed"),
    (lambda: esd.analyze(nn.Linear(100, 100), seed="0"), "seed"),
])
def test_bad_input_raises_a_value_error_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
