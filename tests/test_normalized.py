"""Known answers for Chapter 2's normalized cross-entropy (Liao, Miranda et al. 2018)."""
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from helpers import models
from helpers.metrics import normalized


def _scaled(model, factors):
    """A copy with weight layer k (and the first layer's bias) multiplied by factors[k]."""
    copy = models.mlp(model.input_shape, hidden=(32, 16), bias="first", seed=0)
    copy.load_state_dict(model.state_dict())
    layers = [m for m in copy.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
    with torch.no_grad():
        for layer, c in zip(layers, factors):
            layer.weight.mul_(c)
            if layer.bias is not None:
                layer.bias.mul_(c)
    return copy


@pytest.fixture
def mlp_and_data():
    g = torch.Generator().manual_seed(0)
    model = models.mlp(20, hidden=(32, 16), bias="first", init_std=0.3, seed=1)
    with torch.no_grad():
        model[1].bias.copy_(torch.randn(32, generator=g))  # a non-zero first-layer bias
    return model, torch.randn(64, 20, generator=g), torch.randint(0, 10, (64,), generator=g)


def test_rescaling_layers_leaves_normalized_loss_unchanged(mlp_and_data):
    model, X, y = mlp_and_data
    factors = (3.0, 0.2, 7.5)
    scaled = _scaled(model, factors)
    assert torch.allclose(scaled(X), math.prod(factors) * model(X), rtol=1e-4, atol=1e-5)
    assert normalized.network_scale(scaled) == pytest.approx(math.prod(factors) * normalized.network_scale(model))
    assert normalized.normalized_cross_entropy(scaled, X, y) == pytest.approx(
        normalized.normalized_cross_entropy(model, X, y), rel=1e-9)
    assert F.cross_entropy(scaled(X), y).item() != pytest.approx(F.cross_entropy(model(X), y).item(), rel=1e-2)


def test_normalized_loss_equals_cross_entropy_of_logits_over_rho_by_hand(mlp_and_data):
    model, X, y = mlp_and_data
    W1, b1, W2, W3 = model[1].weight, model[1].bias, model[3].weight, model[5].weight
    rho = (W1.pow(2).sum() + b1.pow(2).sum()).sqrt() * W2.norm() * W3.norm()
    expected = F.cross_entropy(model(X).double() / rho.double(), y).item()
    assert normalized.layer_norms(model)[1:] == pytest.approx([W2.norm().item(), W3.norm().item()])
    assert normalized.normalized_cross_entropy(model, X, y) == pytest.approx(expected, rel=1e-6)
    # and it is the loss of the network whose layers all have unit norm
    unit = _scaled(model, [1 / n for n in normalized.layer_norms(model)])
    assert normalized.layer_norms(unit) == pytest.approx([1.0, 1.0, 1.0])
    assert F.cross_entropy(unit(X), y).item() == pytest.approx(expected, rel=1e-5)


def test_cnn_with_first_layer_bias_only_is_supported():
    for model, x in ((models.cnn1d(40, channels=(4, 4), bias="first"), torch.randn(8, 40)),
                     (models.liao_cnn((3, 12, 12), filters=4), torch.randn(8, 3, 12, 12))):
        y = torch.randint(0, 10, (8,))
        loss = normalized.normalized_cross_entropy(model, x, y)
        rho = normalized.network_scale(model)
        assert loss == pytest.approx(F.cross_entropy(model(x).double() / rho, y).item(), rel=1e-6)


def test_mode_is_restored_and_batches_agree(mlp_and_data):
    model, X, y = mlp_and_data
    model.train()
    whole = normalized.normalized_cross_entropy(model, X, y)
    assert model.training
    assert normalized.normalized_cross_entropy(model, X, y, batch_size=7) == pytest.approx(whole, rel=1e-6)


@pytest.mark.parametrize("model,match", [
    (nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2, bias=False)), "BatchNorm1d"),
    (nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2, bias=False)), "Tanh, which is not positively homogeneous"),
    (nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 2, bias=False)), "GELU"),
    (nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), "has a bias, but only the first layer may"),
    (nn.Sequential(nn.ReLU()), "no Linear or Conv layer")])
def test_unsupported_models_raise(model, match):
    with pytest.raises(ValueError, match=match):
        normalized.normalized_cross_entropy(model, torch.randn(3, 4), torch.zeros(3, dtype=torch.long))


def test_lipschitz_bound_is_the_product_of_spectral_over_frobenius_norms():
    # diagonal layers: ||diag(d)||_2 = max |d|, ||diag(d)||_F = ||d||; bias column of zeros adds nothing
    net = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 3, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.diag(torch.tensor([3.0, 4.0, 0.0])))
        net[0].bias.zero_()
        net[2].weight.copy_(torch.diag(torch.tensor([1.0, 1.0, 1.0])))
    expected = (4 / 5) * (1 / math.sqrt(3))
    assert normalized.normalized_lipschitz_bound(net) == pytest.approx(expected, rel=1e-12)
    x = torch.randn(256, 3)
    rho = normalized.network_scale(net)
    logits = net(x).double() / rho  # the normalized network never stretches more than the bound
    inputs = torch.cat([x, torch.ones(256, 1)], dim=1).double()
    assert (logits.norm(dim=1) <= expected * inputs.norm(dim=1) + 1e-9).all()
    assert normalized.normalized_lipschitz_bound(_scaled(models.mlp((40,), hidden=(32, 16), bias="first", seed=0),
                                                         [3.0, 0.5, 7.0])) == pytest.approx(
        normalized.normalized_lipschitz_bound(models.mlp((40,), hidden=(32, 16), bias="first", seed=0)), rel=1e-6)


def test_fit_tracks_it_from_its_own_evaluation_with_the_same_number():
    """fit computes the tracked normalized loss from the logits of its end-of-epoch evaluation
    (no second forward pass); the number must be the from-scratch measure's, to the last bit."""
    from helpers import data, train

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 20, generator=g), torch.randint(0, 4, (300,), generator=g)
    d = data.Dataset("gauss", x[:200], y[:200], x[200:], y[200:], 4)
    model = models.mlp(20, hidden=(32, 16), num_classes=4, bias="first", init_std=0.3, seed=1)
    functions, _ = train._tracked(("normalized_cross_entropy",), d)
    assert all(isinstance(f, train._OfOutputs) for f in functions.values())
    h = train.fit(model, d, epochs=3, lr=0.05, batch_size=50, target_train_acc=None,
                  epoch_metrics=functions, progress=False, device="cpu")
    for split, xs, ys in (("train", d.x_train, d.y_train), ("test", d.x_test, d.y_test)):
        assert h.metrics[f"normalized_cross_entropy/{split}"][-1] == \
            normalized.normalized_cross_entropy(model, xs, ys)
        assert functions[f"normalized_cross_entropy/{split}"](model) == \
            normalized.normalized_cross_entropy(model, xs, ys)  # called alone: from scratch
