"""measure_all, fold_batchnorm and the CIFAR ResNet-18 (issue 17): known answers on tiny networks."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from helpers import models, train, zoo
from helpers.metrics import all_measures, measure_all, normalized, norms

torch.set_num_threads(1)


def _with_running_stats(model, x, seed=0):
    """A few train-mode passes (non-trivial running statistics), random BatchNorm affines, eval."""
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, models.BATCHNORMS)]
    for m in bns:
        m.momentum = None  # the running statistics become the mean over the passes
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(3 * x + 0.5)
        for m in bns:
            m.momentum = 0.1
            m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=g))
            m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=g))
    return model.eval()


@pytest.fixture(scope="module")
def cifar():
    g = torch.Generator().manual_seed(0)
    return torch.randn(64, 3, 32, 32, generator=g), torch.randint(0, 10, (64,), generator=g)


@pytest.fixture(scope="module")
def tiny_resnet(cifar):
    return _with_running_stats(models.resnet18(width=4, seed=1), cifar[0])


def bn_mlp(first_only=False, seed=0):
    """Linear -> BatchNorm1d -> ReLU blocks; ``first_only``: BatchNorm only after the first layer
    and no bias after it, so that folded it has Liao et al.'s form (a bias in the first layer only)."""
    torch.manual_seed(seed)
    second = [nn.Linear(16, 12, bias=False), nn.ReLU()] if first_only else [
        nn.Linear(16, 12), nn.BatchNorm1d(12), nn.ReLU()]
    return models.Classifier((10,), nn.Flatten(), nn.Linear(10, 16, bias=False), nn.BatchNorm1d(16),
                             nn.ReLU(), *second, nn.Linear(12, 3, bias=False))


# --- the ResNet ------------------------------------------------------------------------------

def test_resnet18_is_the_cifar_network():
    full = models.resnet18()
    assert models.num_parameters(full) == 11_173_962  # the standard CIFAR ResNet-18 (10 classes)
    assert isinstance(full, models.Classifier) and full.input_shape == (3, 32, 32)
    assert full[0].kernel_size == (3, 3) and full[0].stride == (1, 1)  # the 3x3 stem, no max-pool
    assert sum(isinstance(m, models.BasicBlock) for m in full.modules()) == 8
    tiny = models.build("resnet18", (3, 32, 32), num_classes=7, seed=3, width=2)
    again = models.resnet18(num_classes=7, width=2, seed=3)  # the same seed, the same weights
    assert all(torch.equal(a, b) for a, b in zip(tiny.state_dict().values(), again.state_dict().values()))
    assert tiny(torch.zeros(2, 3, 32, 32)).shape == (2, 7)
    with pytest.raises(ValueError, match="width must be a positive integer"):
        models.resnet18(width=0)


# --- fold_batchnorm --------------------------------------------------------------------------

def test_fold_batchnorm_preserves_the_resnet_outputs(tiny_resnet, cifar):
    before = {k: v.clone() for k, v in tiny_resnet.state_dict().items()}
    folded = models.fold_batchnorm(tiny_resnet)
    assert not any(isinstance(m, models.BATCHNORMS) for m in folded.modules())
    assert sum(isinstance(m, models.BATCHNORMS) for m in tiny_resnet.modules()) == 20  # untouched
    with torch.no_grad():
        expected, got = tiny_resnet(cifar[0]), folded(cifar[0])
    assert expected.abs().max() > 0.1 and torch.allclose(got, expected, atol=1e-5, rtol=0)
    assert all(torch.equal(v, tiny_resnet.state_dict()[k]) for k, v in before.items())


@pytest.mark.parametrize("first_only", [False, True])
def test_fold_batchnorm_preserves_a_batchnorm_mlp(first_only):
    x = torch.randn(50, 10, generator=torch.Generator().manual_seed(1))
    model = _with_running_stats(bn_mlp(first_only), x)
    assert model[2].running_var.sub(1).abs().max() > 0.5  # the statistics are not the defaults
    folded = models.fold_batchnorm(model)
    with torch.no_grad():
        assert torch.allclose(folded(x), model(x), atol=1e-5, rtol=0)
    assert isinstance(folded[2], nn.Identity) and folded[1].bias is not None  # it gained a bias
    assert not any(isinstance(m, models.BATCHNORMS) for m in folded.modules())


def test_fold_batchnorm_refuses_train_mode_and_leaves_a_leading_batchnorm():
    model = bn_mlp().train()
    with pytest.raises(ValueError, match=r"model's 2 is a BatchNorm1d in train mode.*model.eval\(\)"):
        models.fold_batchnorm(model)
    leading = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2)).eval()
    assert isinstance(models.fold_batchnorm(leading)[0], nn.BatchNorm1d)  # nothing before it to fold into
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        models.fold_batchnorm("resnet")


# --- measure_all on the ResNet -----------------------------------------------------------------

def test_measure_all_on_the_resnet_gives_every_measure_a_row(tiny_resnet, cifar):
    X, y = cifar
    df = measure_all(tiny_resnet, X, y, progress=False).set_index("measure")
    assert list(df.index) == list(zoo.MEASURE_NAMES) and list(df.columns) == list(all_measures.COLUMNS)[1:]
    assert not df["status"].str.startswith("error").any()
    ok = df["status"].str.startswith("ok")
    assert np.isfinite(df.loc[ok, "value"]).all() and df.loc[~ok, "value"].isna().all()
    # the normalized loss is tried on the folded network, where the residual blocks' biases break it
    assert df.loc["normalized_train_loss", "status"].startswith(
        "not applicable: normalized loss undefined on the folded network")
    for name in ("log_spectral_norm_product", "log_path_norm", "log_frobenius_over_margin"):
        assert "computed on the folded network" in df.loc[name, "status"]
    assert "per-sample gradients taken in eval mode" in df.loc["mean_gsnr", "status"]
    assert df.loc["distance_from_init", "status"] == "not applicable: needs the untrained model (init=)"
    assert df.loc["steps_to_target", "status"].startswith("not applicable: needs the training history")
    assert df.loc["basin_radius", "status"].startswith("not applicable: the train loss")  # untrained
    assert df.loc["num_parameters", "value"] == models.num_parameters(tiny_resnet)
    folded = models.fold_batchnorm(tiny_resnet)
    assert df.loc["log_path_norm", "value"] == pytest.approx(
        norms.log_path_norm(folded), abs=1e-9)
    assert df.loc["alpha_hat", "direction"] == "larger predicts a larger gap"
    assert df.loc["mean_gsnr", "direction"] == "larger predicts a smaller gap"
    assert not tiny_resnet.training  # modes left as they were


def test_measure_all_with_init_and_train_mode_batchnorm(tiny_resnet, cifar):
    X, y = cifar
    init = models.resnet18(width=4, seed=1)
    df = measure_all(tiny_resnet, X, y, init=init, which=["distance_from_init"], progress=False)
    assert df["status"].tolist() == ["ok"] and df["value"][0] == pytest.approx(
        norms.distance_from_init(tiny_resnet, init))
    tiny_resnet.train()
    try:
        df = measure_all(tiny_resnet, X, y, which=["log_path_norm", "num_parameters"], progress=False)
    finally:
        tiny_resnet.eval()
    status = dict(zip(df["measure"], df["status"]))
    assert status["log_path_norm"].startswith("not applicable: BatchNorm in train mode")
    assert status["num_parameters"] == "ok: measured in eval mode (BatchNorm on its running statistics)"


def test_the_normalized_loss_is_computed_through_folding():
    g = torch.Generator().manual_seed(2)
    X, y = torch.randn(40, 10, generator=g), torch.randint(0, 3, (40,), generator=g)
    model = _with_running_stats(bn_mlp(first_only=True), X)
    df = measure_all(model, X, y, which=["normalized_train_loss"], progress=False)
    assert df["status"][0] == "ok: computed on the folded network (BatchNorm folded into the layer before it)"
    expected = normalized.normalized_cross_entropy(models.fold_batchnorm(model), X, y)
    assert df["value"][0] == pytest.approx(expected, abs=1e-12) and math.isfinite(expected)
    with pytest.raises(ValueError, match="BatchNorm1d"):  # unfolded, the measure refuses it
        normalized.normalized_cross_entropy(model, X, y)


# --- measure_all on an MLP equals the zoo's measures ---------------------------------------------

def test_measure_all_equals_the_zoo_on_a_trained_mlp():
    spec = zoo.zoo_run(dataset="synthetic-cifar10", n_train=64, n_test=32, architecture="mlp", depth=2,
                       width=16, lr=0.01, batch_size=32, weight_decay=0.0, max_epochs=2,
                       target_train_loss=5.0, seed=3)
    run = train.run(spec)
    assert run.history.stop_reason == "target_loss"
    settings = zoo.MeasureSettings(measure_samples=48, sharpness_samples=2, n_directions=2,
                                   radius_threshold=10.0, min_evals=8)
    values, _, details = zoo.measure_model(run, settings)
    df = measure_all(run.model, run.data.x_train, run.data.y_train, init=run.initial_model(),
                     history=run.history, target_train_loss=spec.target_train_loss, settings=settings,
                     seed=spec.seed, progress=False).set_index("measure")
    assert df["status"].str.startswith("ok").all(), df["status"].to_dict()
    assert "computed on the folded network" not in " ".join(df["status"])  # no BatchNorm: nothing folded
    for name, value in values.items():
        assert df.loc[name, "value"] == pytest.approx(value, rel=1e-6, abs=1e-6), name
    merged = {k: v for d in df["details"] for k, v in d.items()}
    assert merged == details


def test_default_settings_scale_with_the_data():
    assert all_measures.default_settings(64).measure_samples == 64
    assert all_measures.default_settings(50_000).measure_samples == 500
    with pytest.raises(ValueError, match="n_samples"):
        all_measures.default_settings(1)


# --- bad input raises first, naming the argument -------------------------------------------------

def _mlp():
    return models.mlp(10, hidden=(8,), num_classes=3)


X0, Y0 = torch.randn(20, 10), torch.randint(0, 3, (20,))


@pytest.mark.parametrize("kwargs,error,match", [
    ({"model": "net"}, TypeError, "model must be a torch.nn.Module"),
    ({"X": X0.numpy()}, TypeError, "X must be a torch.Tensor"),
    ({"y": Y0[:5]}, ValueError, "X and y must hold the same number of samples"),
    ({"X": X0[:0], "y": Y0[:0]}, ValueError, "X must hold at least 2 samples"),
    ({"X": torch.where(X0 > 1.5, float("nan"), X0)}, ValueError, "X contains NaN"),
    ({"X": X0.long()}, TypeError, "X must be a floating-point tensor"),
    ({"y": Y0.float()}, TypeError, "y must be a 1-D tensor of integer class labels"),
    ({"y": Y0 + 3}, ValueError, r"y holds labels from \d+ to \d+, but the model has 3 outputs"),
    ({"X": torch.randn(20, 12)}, ValueError, r"X has samples of shape \(12,\)"),
    ({"which": "mean_gsnr"}, TypeError, "which must be a list"),
    ({"which": ["gsnr"]}, ValueError, "which must name measures"),
    ({"init": models.mlp(10, hidden=(9,), num_classes=3)}, ValueError, "init must be the same network"),
    ({"history": [0.1]}, TypeError, "history must be a helpers.train.History"),
    ({"target_train_loss": -1.0}, ValueError, "target_train_loss must be"),
    ({"settings": {"measure_samples": 10}}, TypeError, "settings must be"),
    ({"errors": "ignore"}, ValueError, "errors must be"),
])
def test_bad_input_raises_naming_the_argument(kwargs, error, match):
    args = {"model": _mlp(), "X": X0, "y": Y0, **kwargs}
    with pytest.raises(error, match=match):
        measure_all(args.pop("model"), args.pop("X"), args.pop("y"), progress=False, **args)


def test_a_model_that_cannot_take_x_is_named():
    net = nn.Sequential(nn.Linear(12, 3))  # no input_shape: found out by a forward pass
    with pytest.raises(ValueError, match=r"model cannot take X's samples of shape \(10,\)"):
        measure_all(net, X0, Y0, progress=False)
