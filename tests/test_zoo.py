"""Chapter 6: the baselines' closed forms, PAC-Bayes sharpness, the batched ranking and the zoo's cache."""
import dataclasses
import itertools
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import norm
from torch import nn

from helpers import models, scale, sweep, train, zoo
from helpers.metrics import landscape, norms, rank


def small_mlp(bias=True, seed=0):
    torch.manual_seed(seed)
    return models.Classifier((3,), nn.Linear(3, 4, bias=bias), nn.ReLU(), nn.Linear(4, 5, bias=bias), nn.ReLU(),
                             nn.Linear(5, 2, bias=bias))


def brute_force_path_norm(model):
    """sum over every path (from an input or a bias to an output) of the product of squared weights."""
    layers = [m for m in model if isinstance(m, nn.Linear)]
    total = 0.0
    for start in range(len(layers) + 1):  # start = 0: an input unit; start = k: layer k-1's bias
        if start > 0 and layers[start - 1].bias is None:
            continue
        width = layers[start].in_features if start == 0 else layers[start - 1].out_features
        for units in itertools.product(range(width), *(range(l.out_features) for l in layers[start:])):
            w = 1.0 if start == 0 else layers[start - 1].bias[units[0]].item() ** 2
            for layer, a, b in zip(layers[start:], units, units[1:]):
                w *= layer.weight[b, a].item() ** 2
            total += w
    return total


def test_path_norm_is_the_sum_over_paths():
    for bias in (False, True):
        model = small_mlp(bias)
        assert math.exp(norms.log_path_norm(model)) == pytest.approx(brute_force_path_norm(model), rel=1e-10)


def test_norm_measures_are_invariant_to_rescaling_relu_layers():
    model, rescaled = small_mlp(bias=False), small_mlp(bias=False)
    with torch.no_grad():
        rescaled[0].weight.mul_(3.0)
        rescaled[2].weight.div_(3.0)  # f is unchanged: relu(3 z) = 3 relu(z)
    x = torch.randn(7, 3)
    assert torch.allclose(model(x), rescaled(x), atol=1e-5)
    assert norms.log_path_norm(rescaled) == pytest.approx(norms.log_path_norm(model), abs=1e-6)  # float32 weights
    assert norms.log_spectral_norm_product(rescaled) == pytest.approx(norms.log_spectral_norm_product(model), abs=1e-6)
    assert norms.distance_from_init(rescaled, model) > 1.0  # the distance, of course, is not invariant


def test_spectral_product_and_distance_match_numpy():
    model, init = small_mlp(seed=0), small_mlp(seed=1)
    weights = [m.weight.detach().double().numpy() for m in model if isinstance(m, nn.Linear)]
    assert norms.log_spectral_norm_product(model) == pytest.approx(
        sum(2 * np.log(np.linalg.norm(w, 2)) for w in weights), rel=1e-12)
    flat = lambda m: np.concatenate([p.detach().double().numpy().ravel() for p in m.parameters()])
    assert norms.distance_from_init(model, init) == pytest.approx(np.linalg.norm(flat(model) - flat(init)), rel=1e-12)
    with pytest.raises(ValueError, match="init"):
        norms.distance_from_init(model, small_mlp(bias=False))


def test_frobenius_product_and_margin_match_numpy():
    model = small_mlp(seed=0)
    weights = [m.weight.detach().double().numpy() for m in model if isinstance(m, nn.Linear)]
    assert norms.log_frobenius_norm_product(model) == pytest.approx(
        sum(np.log((w ** 2).sum()) for w in weights), rel=1e-12)
    x, y = torch.randn(101, 3, generator=torch.Generator().manual_seed(0)), torch.arange(101) % 2
    out = model(x).detach().double().numpy()
    margins = out[np.arange(101), y.numpy()] - out[np.arange(101), 1 - y.numpy()]  # two classes
    for q in (0.0, 0.1, 0.5):
        # batch_size 7: the chunks are put back together in order
        assert norms.output_margin(model, x, y, quantile=q, batch_size=7) == pytest.approx(np.quantile(margins, q), rel=1e-6)
    with pytest.raises(ValueError, match="quantile"):
        norms.output_margin(model, x, y, quantile=1.5)


def test_the_margin_measures_scale_as_the_closed_form_says():
    # multiplying the last layer by c multiplies every logit, hence the margin, by c: 1 / margin^2 falls
    # by c^2, while the spectral and Frobenius products rise by c^2, so their ratio to margin^2 is unchanged
    model, scaled = small_mlp(bias=False, seed=0), small_mlp(bias=False, seed=0)  # no bias: logits scale by c
    with torch.no_grad():
        scaled[4].weight.mul_(3.0)
    x = torch.randn(256, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(x)
    x = x[(out[:, 0] - out[:, 1]).abs() > 1e-3]  # samples whose two logits differ
    y = model(x).argmax(1)  # every sample correctly classified: a positive margin
    assert len(x) > 20
    for fn in (norms.log_spectral_norm_product, norms.log_frobenius_norm_product):
        ratio = lambda m: fn(m) - 2 * math.log(norms.output_margin(m, x, y))
        assert ratio(scaled) == pytest.approx(ratio(model), abs=1e-5)
    assert norms.output_margin(scaled, x, y) == pytest.approx(3 * norms.output_margin(model, x, y), rel=1e-5)


def linear_probe(d=200, margin=2.0):
    """Linear(d, 2) without bias on x = +-e_j: sample j is misclassified iff margin + u_0j - u_1j < 0."""
    model = models.Classifier((d,), nn.Linear(d, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.stack([torch.full((d,), margin / 2), torch.full((d,), -margin / 2)]))
    x = torch.cat([torch.eye(d), -torch.eye(d)])
    y = torch.cat([torch.zeros(d, dtype=torch.long), torch.ones(d, dtype=torch.long)])
    return model, x, y


def test_pac_bayes_sigma_matches_the_gaussian_closed_form():
    # error = Phi(-margin / (sigma sqrt 2)), so the error reaches 0.1 at sigma' = margin / (sqrt 2 z_0.9)
    margin = 2.0
    model, x, y = linear_probe(margin=margin)
    expected = margin / (math.sqrt(2) * norm.ppf(0.9))
    fit = landscape.pac_bayes_sigma(model, x, y, max_deviation=0.1, n_samples=50, n_bisect=14, seed=0)
    assert fit.base_error == 0 and not fit.capped
    assert fit.sigma == pytest.approx(expected, rel=0.05)
    assert fit.deviation <= 0.1
    # magnitude-aware: each weight's variance is sigma^2 w^2 + eps^2 = sigma^2 margin^2 / 4 + eps^2,
    # so the error reaches 0.1 where that equals expected^2
    mag = landscape.pac_bayes_sigma(model, x, y, n_samples=50, n_bisect=14, magnitude_aware=True, epsilon=0.5)
    assert mag.sigma == pytest.approx(math.sqrt(expected ** 2 - 0.25) / (margin / 2), rel=0.05)
    assert torch.equal(model[0].weight[0], torch.full((200,), margin / 2))  # the model is untouched


def test_pac_bayes_sigma_rejects_bad_arguments_and_reports_a_cap():
    model, x, y = linear_probe(margin=2.0)
    with pytest.raises(ValueError, match="max_deviation"):
        landscape.pac_bayes_sigma(model, x, y, max_deviation=1.5)
    with pytest.raises(ValueError, match="sigma_range"):
        landscape.pac_bayes_sigma(model, x, y, sigma_range=(1.0, 0.5))
    capped = landscape.pac_bayes_sigma(model, x, y, sigma_range=(1e-4, 0.1), n_samples=4)
    assert capped.capped and capped.sigma == 0.1


def test_rank_measures_equals_the_one_measure_functions():
    rng = np.random.default_rng(0)
    table = pd.DataFrame([dict(a=a, b=b, c=c) for a, b, c in itertools.product([1, 2, 3], [0.1, 0.2], [5, 6])] * 2)
    table["gap"] = rng.normal(size=len(table))
    table["m1"] = table["gap"] + rng.normal(size=len(table))
    table["m2"] = rng.integers(0, 3, len(table)).astype(float)  # ties
    out = rank.rank_measures(table, {"m1": 1, "m2": -1}, "gap", ["a", "b", "c"], n_boot=100, seed=3)
    got = out.set_index(["measure", "statistic"])
    table["minus_m2"] = -table["m2"]
    for measure, column in (("m1", "m1"), ("m2", "minus_m2")):
        tau = rank.kendall_tau_ci(table[column], table["gap"], n_boot=100, seed=3)
        assert tuple(got.loc[(measure, "tau")]) == pytest.approx((tau.value, tau.low, tau.high), abs=1e-12)
        for stat, est in rank.granulated_tau(table, column, "gap", ["a", "b", "c"], n_boot=100, seed=3).items():
            assert tuple(got.loc[(measure, stat)]) == pytest.approx((est.value, est.low, est.high), abs=1e-12)
    with pytest.raises(ValueError, match="signs"):
        rank.rank_measures(table, {"m1": 2}, "gap", ["a"])


def test_the_small_zoo_is_a_grid_of_32_configurations_over_5_hyperparameters_each_with_2_seeds():
    cfg = scale.measure_zoo("small")
    points = cfg.points()
    models_ = [zoo.hyperparameters(p["run"]) for p in points]
    # read back from the specs: every configuration once per seed, seed-major
    assert models_ == [dict(h, label_noise=0.0, seed=s) for s in cfg.seeds for h in cfg.grid()]
    configurations = {tuple(h[k] for k in zoo.HYPERPARAMETERS) for h in models_}
    assert len(configurations) >= 32 and len(cfg.seeds) >= 2 and len(points) == len(configurations) * len(cfg.seeds)
    assert all(len({h[k] for h in models_}) >= 2 for k in zoo.HYPERPARAMETERS)
    with pytest.raises(ValueError, match="seeds"):
        dataclasses.replace(cfg, seeds=(0,))
    with pytest.raises(ValueError, match="seeds"):
        dataclasses.replace(cfg, seeds=(1, 1))


@pytest.fixture
def mini_zoo():
    cfg = dataclasses.replace(scale.measure_zoo("tiny"), depths=(2,), widths=(24,), lrs=(0.1,),
                              batch_sizes=(50, 100), weight_decays=(0.0,), n_train=200, n_test=100)
    return cfg.points()


def with_run(point, **changes):
    return dict(point, run=point["run"].replace(**changes))


def with_settings(point, **changes):
    return dict(point, settings=dataclasses.replace(point["settings"], **changes))


def test_zoo_second_run_trains_nothing(mini_zoo, tmp_path, monkeypatch):
    first = zoo.zoo_table(mini_zoo, sweep.run_sweep(zoo.train_and_measure, mini_zoo, "zoo", directory=tmp_path))
    assert first["reached"].all() and np.isfinite(first[list(zoo.MEASURE_NAMES)].to_numpy()).all()

    def no_training(*args, **kwargs):
        raise AssertionError("the second run trained a model")

    monkeypatch.setattr(train, "fit", no_training)
    again = sweep.run_sweep(zoo.train_and_measure, mini_zoo, "zoo", directory=tmp_path)
    assert all(isinstance(r, zoo.MeasuredModel) for r in again)
    pd.testing.assert_frame_equal(first, zoo.zoo_table(mini_zoo, again))


def test_a_model_that_misses_the_criterion_is_kept_but_not_measured(mini_zoo):
    point = with_run(mini_zoo[0], max_epochs=1, target_train_loss=1e-6)
    result = zoo.train_and_measure(**point)
    assert not result.reached and result.measures == {}
    row = zoo.zoo_table([point], [result]).iloc[0]
    assert not row["reached"] and row["stop_reason"] == "max_epochs" and math.isnan(row["alpha_hat"])


def test_zoo_table_refuses_a_non_finite_measure(mini_zoo):
    result = zoo.train_and_measure(**mini_zoo[0])
    result.measures["mean_gsnr"] = float("nan")
    with pytest.raises(ValueError, match="mean_gsnr"):
        zoo.zoo_table(mini_zoo[:1], [result])


def test_label_noise_reaches_training_and_the_measures(mini_zoo, monkeypatch):
    cfg = dataclasses.replace(scale.measure_zoo("tiny"), n_train=200, n_test=100, target_train_loss=10.0,
                              radius_threshold=100.0)  # met at once
    noisy = cfg.point(label_noise=0.5, **cfg.grid()[0])
    seen = []
    real = zoo.measure_model

    def spy(run, settings, measures=zoo.MEASURES):
        seen.append(run.data.y_train)
        return real(run, settings, measures)

    monkeypatch.setattr(zoo, "measure_model", spy)
    result = zoo.train_and_measure(**noisy)
    clean = train.run_data(noisy["run"].replace(randomization="true labels"))
    changed = (seen[0] != clean.y_train).float().mean().item()
    assert 0.35 < changed < 0.55  # p = 0.5 redraws half the labels, 9 in 10 of them to another class
    assert result.reached and zoo.zoo_table([noisy], [result]).iloc[0]["label_noise"] == 0.5
    with pytest.raises(ValueError, match="label_noise"):
        cfg.point(label_noise=1.5, **cfg.grid()[0])


def test_the_rebuilt_initialization_is_the_model_s_own(mini_zoo, monkeypatch):
    # with training replaced by nothing, the measured model is its initialization: distance 0
    def no_training(model, data, **kwargs):
        return train.History(train_loss=[0.0], train_acc=[1.0], test_loss=[0.0], test_acc=[1.0], steps=[0],
                             stop_reason="target_loss")

    monkeypatch.setattr(train, "fit", no_training)
    result = zoo.train_and_measure(**with_settings(mini_zoo[0], radius_threshold=100.0))
    assert result.reached and result.measures["distance_from_init"] == 0.0
    assert train.run(mini_zoo[0]["run"]).num_parameters == result.num_parameters


def test_adding_a_measure_is_one_declaration(mini_zoo):
    # a toy measure that ranks the models by their batch size: declared once, computed, ranked
    toy = zoo.Measure(name="batch_size_measure", label="batch size (toy)", source="this test", sign=+1,
                      family="optimization", axis="linear", description="the batch size, as a measure",
                      compute=lambda c: (float(c.run.spec.batch_size), {"toy_detail": 1}))
    measures = zoo.MEASURES + (toy,)
    results = [zoo.train_and_measure(**p, measures=measures) for p in mini_zoo]
    assert [r.measures["batch_size_measure"] for r in results] == [50.0, 100.0] * 2  # two seeds
    assert all(r.details["toy_detail"] == 1 and "batch_size_measure" in r.measure_seconds for r in results)
    table = zoo.zoo_table(mini_zoo, results, measures)
    assert zoo.family("optimization", measures) == ["steps_to_loss_0.1", "steps_to_target", "batch_size_measure"]
    ranking = rank.rank_measures(table, {m.name: m.sign for m in measures}, "gap", ["batch_size"], n_boot=5)
    assert "batch_size_measure" in set(ranking["measure"])
    with pytest.raises(ValueError, match="family must be one of"):
        dataclasses.replace(toy, family="vibes")


def test_the_zoo_is_the_same_however_it_is_scheduled(mini_zoo, tmp_path):
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the serial caller's count must not matter
    try:
        serial = zoo.zoo_table(mini_zoo, sweep.run_sweep(zoo.train_and_measure, mini_zoo, "zoo",
                                                         directory=tmp_path / "a"))
    finally:
        torch.set_num_threads(torch_threads)
    parallel = zoo.zoo_table(mini_zoo, sweep.run_sweep(zoo.train_and_measure, mini_zoo, "zoo",
                                                       directory=tmp_path / "b", n_jobs=2))
    timing = ["train_seconds", "measure_seconds"]
    pd.testing.assert_frame_equal(serial.drop(columns=timing), parallel.drop(columns=timing))


def test_worst_case_alpha_matches_the_box_closed_form():
    # the worst u in the box lowers w_0j and raises w_1j by the half-width: every sample flips at
    # once when the half-width exceeds margin / 2, so alpha' = margin / 2 (isotropic box) and
    # alpha' (margin / 2 + eps) = margin / 2 (magnitude-aware box, |w| = margin / 2)
    margin = 2.0
    model, x, y = linear_probe(d=50, margin=margin)
    fit = landscape.worst_case_alpha(model, x, y, steps=5, n_bisect=16)
    assert fit.alpha == pytest.approx(margin / 2, rel=0.01) and not fit.capped and fit.deviation <= 0.1
    mag = landscape.worst_case_alpha(model, x, y, steps=5, n_bisect=16, magnitude_aware=True, epsilon=0.2)
    assert mag.alpha == pytest.approx((margin / 2) / (margin / 2 + 0.2), rel=0.01)
    assert torch.equal(model[0].weight[0], torch.full((50,), margin / 2))  # the model is untouched
    with pytest.raises(ValueError, match="steps"):
        landscape.worst_case_alpha(model, x, y, steps=0)


def test_the_measures_taken_are_part_of_the_sweep_key(mini_zoo, tmp_path):
    point = mini_zoo[0]
    fewer = dict(point, settings=dataclasses.replace(point["settings"], measures=("num_parameters",)))
    key = lambda p: sweep.point_key(p, "", sweep.function_name(zoo.train_and_measure))
    assert key(point) != key(fewer)  # declaring a new measure recomputes instead of reading stale entries
    result = zoo.train_and_measure(**fewer)
    assert list(result.measures) == ["num_parameters"]
    with pytest.raises(ValueError, match="measures must be names from zoo.MEASURES"):
        dataclasses.replace(point["settings"], measures=("vibes",))


def test_bad_measure_settings_fail_before_training(mini_zoo, monkeypatch):
    # issue 18: measure_samples=0 failed only after training, naming X
    monkeypatch.setattr(train, "run", lambda *a, **k: pytest.fail("trained before checking the settings"))
    with pytest.raises(ValueError, match=r"^measure_samples must be an integer >= 2 .*got 0$"):
        zoo.train_and_measure(**with_settings(mini_zoo[0], measure_samples=0))
    with pytest.raises(TypeError, match=r"^settings must be a helpers\.zoo\.MeasureSettings, got dict"):
        zoo.train_and_measure(run=mini_zoo[0]["run"], settings=mini_zoo[0]["settings"].to_dict())
