"""Chapter 5's ESD analyzer: known answers (Pareto tails, Marchenko-Pastur), brute-force
eigenvalues, and agreement with weightwatcher 0.7.7 layer by layer on the same models."""
import json
import logging
import sys
import types
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import integrate
from torch import nn

from helpers import scale, train, zoo
from helpers.metrics import esd


@pytest.fixture(scope="module")
def ww():
    """weightwatcher, imported quietly: its logger is silenced and the global warnings filter
    it installs at import time is undone when the import returns."""
    logging.getLogger("weightwatcher").disabled = True
    with warnings.catch_warnings():
        import weightwatcher  # pinned in requirements.txt: missing or broken fails, never skips
    return weightwatcher


def pareto(alpha, n=5000, xmin=1.0, seed=0):
    """n samples of the density (alpha - 1) / xmin * (x / xmin)^-alpha, x >= xmin (inverse CDF)."""
    u = np.random.default_rng(seed).random(n)
    return xmin * (1 - u) ** (-1 / (alpha - 1))


def heavy_mlp(seed=0):
    """An MLP whose weights are Student-t (3 degrees of freedom): ESDs with a real power-law tail."""
    torch.manual_seed(seed)  # the Student-t draws use the global generator
    model = nn.Sequential(nn.Flatten(), nn.Linear(80, 300), nn.ReLU(), nn.Linear(300, 200), nn.ReLU(),
                          nn.Linear(200, 120), nn.ReLU(), nn.Linear(120, 10))
    dist = torch.distributions.StudentT(3.0)
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                m.weight.copy_(dist.sample(m.weight.shape) / m.weight.shape[1] ** 0.5)
    return model


# --- the power-law fit ----------------------------------------------------------------------

@pytest.mark.parametrize("alpha", [2.0, 2.5, 3.0])
def test_alpha_of_a_pareto_sample_is_recovered(alpha):
    fit = esd.power_law_fit(pareto(alpha))
    assert abs(fit.alpha - alpha) < 0.05
    assert fit.num_evals == 5000 and 2 <= fit.num_tail <= 5000
    assert fit.sigma == pytest.approx((fit.alpha - 1) / fit.num_tail ** 0.5)


def test_given_xmin_is_the_closed_form_mle():
    x = pareto(2.5, n=2000, seed=1)
    xmin = float(np.quantile(x, 0.3))
    tail = x[x >= xmin]
    fit = esd.power_law_fit(x, xmin=xmin)
    assert fit.num_tail == len(tail) and fit.xmin == tail.min()
    assert fit.alpha == pytest.approx(1 + len(tail) / np.log(tail / tail.min()).sum(), rel=1e-12)


def test_ks_choice_of_xmin_minimizes_the_distance():
    x = np.sort(np.concatenate([np.random.default_rng(2).uniform(0.1, 1.0, 800), pareto(3.0, 400, seed=3)]))
    best = esd.power_law_fit(x)
    for candidate in x[::37][:-1]:
        assert esd.power_law_fit(x, xmin=float(candidate)).ks_distance >= best.ks_distance - 1e-12


def brute_force_fit(x):
    """The textbook loop: every x_min candidate, its MLE alpha and KS distance; the first minimum."""
    x, best = np.sort(x), None
    for i in range(len(x) - 1):
        tail = x[i:]
        alpha = 1 + len(tail) / np.log(tail / tail[0]).sum()
        d = np.abs(1 - (tail / tail[0]) ** (1 - alpha) - np.arange(len(tail)) / len(tail)).max()
        best = (d, i, alpha) if best is None or d < best[0] else best
    return best


@pytest.mark.parametrize("case", ["marchenko-pastur", "pareto", "ties", "mixture"])
def test_pruned_xmin_search_finds_the_brute_force_minimum(case):
    rng = np.random.default_rng(11)
    x = {"marchenko-pastur": (torch.linalg.svdvals(torch.randn(900, 600, dtype=torch.float64)) ** 2).numpy(),
         "pareto": pareto(2.2, 2500, seed=12), "ties": np.round(rng.lognormal(0, 1, 1500), 2) + 0.01,
         "mixture": np.concatenate([rng.uniform(0.1, 1, 1200), pareto(2.5, 300, xmin=2, seed=13)])}[case]
    d, i, alpha = brute_force_fit(x)
    fit = esd.power_law_fit(x)
    assert fit.xmin == np.sort(x)[i] and fit.alpha == pytest.approx(alpha, rel=1e-9)
    assert fit.ks_distance == pytest.approx(d, abs=1e-12)


def test_fit_is_scale_invariant():
    x = pareto(2.7, n=1500, seed=4)
    a, b = esd.power_law_fit(x), esd.power_law_fit(1e-3 * x)
    assert b.alpha == pytest.approx(a.alpha, rel=1e-9) and b.xmin == pytest.approx(1e-3 * a.xmin)


def test_fit_matches_weightwatchers_fit(ww):
    from weightwatcher.WW_powerlaw import WWFit
    x = np.concatenate([np.random.default_rng(5).gamma(2.0, 1.0, 1500), pareto(2.2, 300, xmin=4.0, seed=6)])
    ours, theirs = esd.power_law_fit(x), WWFit(x)
    assert ours.alpha == pytest.approx(theirs.alpha, abs=1e-9) and ours.xmin == theirs.xmin
    assert ours.ks_distance == pytest.approx(theirs.D, abs=1e-9) and ours.num_tail == len(theirs.data)


def test_pdf_integrates_to_the_tail_fraction():
    fit = esd.power_law_fit(pareto(2.5, n=3000, seed=7))
    mass, _ = integrate.quad(fit.pdf, fit.xmin, np.inf)
    assert mass == pytest.approx(fit.num_tail / fit.num_evals, rel=1e-6)
    assert np.isnan(fit.pdf(0.5 * fit.xmin))


@pytest.mark.parametrize("bad,kwargs", [([1.0], {}), ([1.0, 0.0, 2.0], {}), ([1.0, np.nan, 2.0], {}),
                                        ([1.0, 2.0, 3.0], {"xmin": 3.0}), ([1.0, 2.0, 3.0], {"xmin": -1.0})])
def test_bad_eigenvalues_or_xmin_raise(bad, kwargs):
    with pytest.raises(ValueError, match="eigenvalues|xmin"):
        esd.power_law_fit(bad, **kwargs)


# --- Marchenko-Pastur -----------------------------------------------------------------------

def test_gaussian_eigenvalues_lie_within_the_marchenko_pastur_bounds():
    n, m, sigma = 2000, 500, 0.3
    w = sigma * torch.randn(n, m, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    evals = esd.esd(w)
    lo, hi = esd.mp_bounds(n, m, sigma ** 2)
    assert lo * 0.98 <= evals.min() <= lo * 1.05 and hi * 0.95 <= evals.max() <= hi * 1.02
    grid = np.linspace(lo, hi, 100_001)
    cdf = integrate.cumulative_trapezoid(esd.mp_density(grid, n, m, sigma ** 2), grid, initial=0)
    empirical = (np.arange(m) + 0.5) / m
    assert np.abs(np.interp(evals, grid, cdf) - empirical).max() < 0.02  # the whole density, not only its edges


def test_mp_density_integrates_to_one_and_checks_its_arguments():
    lo, hi = esd.mp_bounds(300, 100, 2.0)
    assert integrate.quad(esd.mp_density, lo, hi, args=(300, 100, 2.0), limit=200)[0] == pytest.approx(1, abs=1e-6)
    assert esd.mp_density([0.5 * lo, 2 * hi], 300, 100, 2.0).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="N >= M"):
        esd.mp_bounds(10, 20)
    with pytest.raises(ValueError, match="sigma2"):
        esd.mp_density(1.0, 20, 10, sigma2=0.0)


# --- layer matrices and eigenvalues ---------------------------------------------------------

def test_layer_matrices_slices_and_orients_every_kind():
    model = nn.Sequential(nn.Linear(30, 50), nn.Linear(50, 20), nn.Conv1d(4, 6, 5), nn.Conv2d(8, 3, (2, 3)), nn.ReLU())
    layers = {layer.name: layer for layer in esd.layer_matrices(model)}
    assert [(k, v.kind, v.shape) for k, v in layers.items()] == [
        ("0", "linear", (1, 50, 30)), ("1", "linear", (1, 50, 20)), ("2", "conv1d", (5, 6, 4)), ("3", "conv2d", (6, 8, 3))]
    assert torch.equal(layers["1"].matrices[0], model[1].weight.T)
    assert torch.equal(layers["3"].matrices[4], model[3].weight[:, :, 1, 1].T)  # slice (i, j) = (1, 1)
    assert layers["3"].num_evals == 18


def test_esd_is_the_squared_singular_values_pooled_over_slices():
    w = torch.randn(9, 40, 70, generator=torch.Generator().manual_seed(0))
    reference = np.sort((torch.linalg.svdvals(w.double()) ** 2).flatten().numpy())
    assert np.allclose(esd.esd(w), reference, rtol=1e-10, atol=1e-10)
    assert np.allclose(esd.esd(w, dtype=torch.float32), reference, rtol=1e-3, atol=1e-4)
    with pytest.raises(ValueError, match="matrices"):
        esd.esd(torch.zeros(3))


def test_esd_of_strided_and_large_matrices_and_blas_threads_left_as_they_were():
    """The LAPACK path: non-contiguous stacks (a conv layer's permuted slices), a short side
    above the one-thread limit (1,100 > 1,024), float32 input in float64, and the process's BLAS
    thread limits restored afterwards."""
    from threadpoolctl import threadpool_info

    g = torch.Generator().manual_seed(1)
    conv = torch.randn(6, 5, 3, 3, generator=g)  # as layer_matrices slices it: (9, 6, 5), strided
    stack = conv.flatten(2).permute(2, 0, 1)
    assert not stack.is_contiguous()
    reference = np.sort((torch.linalg.svdvals(stack.double()) ** 2).flatten().numpy())
    assert np.allclose(esd.esd(stack), reference, rtol=1e-12, atol=1e-12)
    before = [(i["filepath"], i["num_threads"]) for i in threadpool_info()]
    wide = torch.randn(1100, 1150, generator=g, dtype=torch.float64)  # M = 1,100 after orienting
    reference = np.sort(torch.linalg.svdvals(wide).numpy() ** 2)
    assert np.allclose(esd.esd(wide), reference, rtol=1e-10, atol=1e-9 * reference[-1])
    assert [(i["filepath"], i["num_threads"]) for i in threadpool_info()] == before


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_both_large_gram_solvers_give_the_squared_singular_values(monkeypatch, dtype):
    """MKL (torch) and OpenBLAS (scipy) read the same lower triangle of ?syrk's Fortran-ordered
    Gram matrix: each agrees with the SVD, whichever this machine's rule picks, within the
    first-order backward-error bound of a Householder tridiagonalization, M * u * lambda_max with
    u the unit roundoff (float32: 6.6e-5 relative here; measured 2.2e-5 for both solvers, and
    1.3e-14 against 2.4e-13 in float64).
    Reading the wrong triangle would miss by O(1)."""
    w = torch.randn(2, 1200, 1100, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    reference = np.sort((torch.linalg.svdvals(w) ** 2).flatten().numpy())
    tolerance = w.shape[2] * (torch.finfo(dtype).eps / 2) * reference[-1]
    for solver in ("mkl", "openblas"):
        monkeypatch.setattr(esd, "_large_gram_solver", lambda m, solver=solver: solver)
        evals = esd.esd(w, dtype=dtype)
        assert np.abs(evals - reference).max() <= tolerance, solver
    monkeypatch.undo()
    assert esd._large_gram_solver(esd._LAPACK_SERIAL_MAX) == "openblas"
    assert esd._large_gram_solver(2048) == ("mkl" if esd._torch_lapack_is_mkl_on_intel() else "openblas")


def test_conv1d_layers_are_analyzed():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(32, 64, 5), nn.ReLU(), nn.Conv1d(64, 64, 3))
    df = esd.analyze(model)
    assert df["kind"].tolist() == ["conv1d", "conv1d"] and df["num_evals"].tolist() == [160, 192]
    w = model[0].weight.detach().double()
    reference = torch.cat([torch.linalg.svdvals(w[:, :, k]) ** 2 for k in range(5)])
    assert df.loc[0, "lambda_max"] == pytest.approx(reference.max().item(), rel=1e-10)
    assert df.loc[0, "log_norm"] == pytest.approx(np.log10(reference.sum().item()), rel=1e-10)


def test_analyze_reports_skips_and_leaves_the_model_alone():
    model = heavy_mlp().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    df = esd.analyze(model, min_evals=150)
    assert df["name"].tolist() == ["3"] and list(df.columns) == list(esd.COLUMNS)
    assert {s["name"]: s["reason"] for s in df.attrs["skipped"]} == {
        "1": "80 eigenvalues < min_evals = 150", "5": "120 eigenvalues < min_evals = 150",
        "7": "10 eigenvalues < min_evals = 150"}
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert esd.summary(df)["num_skipped"] == 3


def test_analyze_with_eigenvalues_is_analyze_and_layer_eigenvalues_at_once():
    """The layers skipped for their size have no ESD; the others' are layer_eigenvalues' bits."""
    model = heavy_mlp()
    df, eigenvalues = esd.analyze_with_eigenvalues(model, min_evals=100)
    pd.testing.assert_frame_equal(df, esd.analyze(model, min_evals=100))
    reference = esd.layer_eigenvalues(model, min_evals=100)
    assert eigenvalues.keys() == reference.keys() and len(reference) == 2
    assert all(np.array_equal(eigenvalues[k], reference[k]) for k in reference)


def test_bad_arguments_raise():
    with pytest.raises(TypeError, match="model"):
        esd.analyze("vgg16")
    with pytest.raises(ValueError, match="min_evals"):
        esd.analyze(heavy_mlp(), min_evals=1)
    with pytest.raises(ValueError, match="no layer was analyzed"):
        esd.summary(esd.analyze(heavy_mlp(), min_evals=10_000))


# --- agreement with weightwatcher -----------------------------------------------------------

def _compare_with_weightwatcher(ww, model, min_evals):
    with warnings.catch_warnings():  # weightwatcher 0.7.7 calls a pandas API that pandas deprecated
        warnings.filterwarnings("ignore", message="Passing a dict to DataFrame.from_records")
        theirs = ww.WeightWatcher(model=model).analyze(min_evals=min_evals).set_index("name")
    ours = esd.analyze(model, min_evals=min_evals).set_index("name")
    assert list(ours.index) == list(theirs.index) and len(ours) >= 3
    assert np.abs(ours["alpha"] - theirs["alpha"]).max() < 0.01
    for column in ("lambda_max", "alpha_weighted", "log_norm", "log_spectral_norm", "stable_rank", "xmin"):
        assert np.allclose(ours[column], theirs[column].astype(float), rtol=1e-6, atol=1e-9), column
    assert (ours["num_tail"] == theirs["num_pl_spikes"]).all() and (ours["num_evals"] == theirs["num_evals"]).all()
    mine, reference = esd.summary(ours), ww.WeightWatcher().get_summary(theirs)
    assert mine["alpha_hat"] == pytest.approx(reference["alpha_weighted"], rel=1e-6)
    assert mine["log_norm"] == pytest.approx(reference["log_norm"], rel=1e-6)


def test_mlp_agrees_with_weightwatcher_layer_by_layer(ww):
    _compare_with_weightwatcher(ww, heavy_mlp(), min_evals=50)


def test_random_init_mlp_agrees_with_weightwatcher(ww):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(100, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 64))
    _compare_with_weightwatcher(ww, model, min_evals=50)


def test_conv2d_agrees_with_weightwatcher_including_conv2d_norm(ww):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 32, 3), nn.ReLU(),
                          nn.Conv2d(32, 64, (3, 2)), nn.ReLU(), nn.Conv2d(64, 64, 1), nn.Flatten(), nn.Linear(64, 100))
    _compare_with_weightwatcher(ww, model, min_evals=50)
    # weightwatcher's conv2d_norm halves a pooled Conv2d ESD: without it lambda_max is the SVD's
    raw = esd.analyze(model, conv2d_norm=False).set_index("name").loc["2", "lambda_max"]
    w = model[2].weight.detach().double().permute(2, 3, 0, 1)
    assert raw == pytest.approx((torch.linalg.svdvals(w).max() ** 2).item(), rel=1e-10)


# --- the zoo's training function, the pretrained models and the profiles ----------------------

def test_train_and_analyze_returns_a_json_ready_analysis_that_round_trips():
    spec = train.RunSpec(dataset="mnist1d", n_train=200, n_test=100, architecture="mlp",
                         model_kwargs={"hidden": [128, 128]}, lr=0.02, batch_size=50, max_epochs=2,
                         randomization="random labels", p=0.2, target_train_acc=None)
    run = zoo.train_and_analyze(run=spec, min_evals=100)
    json.dumps(run.to_dict(), allow_nan=False)
    assert zoo.Spectra.from_dict(json.loads(json.dumps(run.to_dict()))) == run
    assert [layer["name"] for layer in run.esd] == ["3"] and list(run.eigenvalues) == ["3"]
    assert len(run.eigenvalues["3"]) == 128 and run.esd_summary["num_skipped"] == 2
    assert run.esd_summary["alpha_hat"] == pytest.approx(run.esd[0]["alpha_weighted"])
    assert len(run.history.test_acc) == 2


def test_pretrained_summary_says_when_torchvision_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision now fails
    with pytest.raises(RuntimeError, match="torchvision is not installed"):
        esd.pretrained_summary("vgg11")


def test_pretrained_summary_reads_top1_from_the_weights_metadata(monkeypatch):
    """torchvision replaced by a stub with its API (get_model_weights, get_model, meta)."""
    class Weights:
        meta = {"_metrics": {"ImageNet-1K": {"acc@1": 71.59, "acc@5": 90.38}}}

    calls = []

    def get_model(name, weights):
        calls.append((name, weights))
        return heavy_mlp()

    stub = types.SimpleNamespace(models=types.SimpleNamespace(
        get_model_weights=lambda name: types.SimpleNamespace(IMAGENET1K_V1=Weights), get_model=get_model))
    monkeypatch.setitem(sys.modules, "torchvision", stub)
    result = esd.pretrained_summary("vgg11")
    assert calls == [("vgg11", Weights)] and result["model"] == "vgg11" and result["top1"] == 71.59
    assert result["alpha_hat"] == pytest.approx(esd.summary(esd.analyze(heavy_mlp()))["alpha_hat"])


@pytest.mark.parametrize("name", scale.SCALES)
def test_heavy_tails_profiles(name):
    cfg = scale.heavy_tails(name)
    zoo = cfg.zoo()
    assert zoo[0]["varied"] == "base" and len({json.dumps(z, sort_keys=True) for z in zoo}) == len(zoo)
    assert cfg.min_evals >= 100 and cfg.width >= cfg.min_evals and min(cfg.widths, default=cfg.width) >= 100
    if name in ("small", "paper"):
        assert len(zoo) >= 13 and len(cfg.series()) >= (18 if name == "small" else 12)  # the series


def test_heavy_tails_paper_smoke():
    cfg = scale.heavy_tails("paper-smoke")
    assert cfg.dataset == "synthetic-cifar10" and cfg.max_epochs == 2 and cfg.pretrained == ()
    assert cfg.architecture == "convnet" and len(cfg.zoo()) >= 3


# --- issue 18: a flat spectrum has no power law; a broken torchvision says so ------------------

@pytest.mark.parametrize("values,kwargs,match", [
    (np.ones(10), {}, r"^the eigenvalues are all equal \(10 values of 1\)"),
    (np.full(50, 3.0) * (1 + 1e-13 * np.arange(50)), {}, "the eigenvalues are all equal"),
    ([1.0, 2.0, 3.0, 5.0, 5.0, 5.0], {"xmin": 5.0}, r"^the eigenvalues >= xmin = 5 are all equal"),
])
def test_power_law_fit_refuses_a_flat_spectrum(values, kwargs, match):
    with pytest.raises(ValueError, match=match):
        esd.power_law_fit(values, **kwargs)


def test_an_identity_layer_is_skipped_not_averaged_as_nan():
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(64))
    df = esd.analyze(model)
    assert list(df["name"]) == ["2"] and np.isfinite(df["alpha_weighted"]).all()
    assert df.attrs["skipped"][0]["name"] == "0" and "flat spectrum" in df.attrs["skipped"][0]["reason"]
    s = esd.summary(df)
    assert np.isfinite(s["alpha_hat"]) and s["num_skipped"] == 1
    bad = df.copy()
    bad.attrs = df.attrs
    bad.loc[0, "alpha_weighted"] = np.nan
    with pytest.raises(ValueError, match=r"column 'alpha_weighted' is NaN or inf for the layer\(s\) \['2'\]"):
        esd.summary(bad)


def test_pretrained_summary_says_when_torchvision_is_broken(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def broken(name, *args, **kwargs):  # as a torchvision built for another torch fails
        if name == "torchvision":
            raise RuntimeError("operator torchvision::nms does not exist")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "torchvision", raising=False)
    monkeypatch.setattr(builtins, "__import__", broken)
    with pytest.raises(RuntimeError, match=r"torchvision is installed but cannot be imported "
                                           r"\(operator torchvision::nms does not exist\): it does not match"):
        esd.pretrained_summary("vgg11")
