"""The anti-generalization loss of Chapter 4 against brute-force float64 formulas."""
import math

import pytest
import torch
from torch.nn import functional as F

from helpers import data, losses, models, train


def brute_force(logits_t, y_t, logits_d, y_d, beta):
    """(1 - beta) CE + beta mean -log(1 - p_y), straight from the definition, in float64."""
    ce = -torch.log_softmax(logits_t.double(), 1).gather(1, y_t[:, None]).mean()
    p = torch.softmax(logits_d.double(), 1).gather(1, y_d[:, None])
    return (1 - beta) * ce + beta * (-torch.log1p(-p)).mean()


def batch(seed, n=32, k=5, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, k, generator=g), torch.randint(0, k, (n,), generator=g)


@pytest.mark.parametrize("beta", [0.0, 0.25, 0.5, 1.0])
def test_matches_the_definition(beta):
    (lt, yt), (ld, yd) = batch(0), batch(1)
    got = losses.anti_generalization_loss(lt, yt, ld, yd, beta)
    assert torch.allclose(got.double(), brute_force(lt, yt, ld, yd, beta), rtol=1e-5)


def test_beta_zero_is_plain_cross_entropy():
    (lt, yt), (ld, yd) = batch(2), batch(3)
    assert torch.equal(losses.anti_generalization_loss(lt, yt, ld, yd, 0.0), F.cross_entropy(lt, yt))


def test_finite_when_the_distractor_probability_is_exactly_one():
    logits = torch.tensor([[0.0, 200.0, 0.0], [0.0, 0.0, 300.0]], requires_grad=True)
    y = torch.tensor([1, 2])
    assert torch.softmax(logits, 1)[0, 1].item() == 1.0  # the naive log(1 - p) would be -inf
    loss = losses.anti_generalization_loss(logits[:1], y[:1], logits, y, beta=1.0)
    loss.backward()
    # -log(1 - p_y) = logsumexp(all) - logsumexp(others) = z_y + log(1 + 2 e^{-z_y}) - log 2
    expected = ((200 - math.log(2)) + (300 - math.log(2))) / 2
    assert math.isfinite(loss.item()) and loss.item() == pytest.approx(expected, rel=1e-6)
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("beta", [-0.1, 1.5, float("nan"), "0.5", True])
def test_beta_outside_the_unit_interval_raises(beta):
    (lt, yt), (ld, yd) = batch(4), batch(5)
    with pytest.raises(ValueError, match="beta"):
        losses.anti_generalization_loss(lt, yt, ld, yd, beta)
    with pytest.raises(ValueError, match="beta"):
        losses.distractor_loss(ld, yd, beta, batch_size=8)


def test_distractor_loss_is_seeded_by_the_generator():
    xd, yd = batch(6, n=100, k=4)
    model = models.mlp(4, (8,), num_classes=4, seed=0)
    xb, yb = batch(7, n=16, k=4)
    loss_fn = losses.distractor_loss(xd, yd, beta=0.5, batch_size=10)
    value = lambda s: loss_fn(model, xb, yb, generator=torch.Generator().manual_seed(s)).item()
    assert value(0) == value(0) and value(0) != value(1)
    clean = losses.distractor_loss(xd, yd, beta=0.0, batch_size=10)
    assert clean(model, xb, yb).item() == pytest.approx(F.cross_entropy(model(xb), yb).item())


def test_poisoned_fit_runs_and_is_reproducible():
    full = data.make_mnist1d(num_samples=400, seed=0)
    d = data.Dataset("mnist1d", full.x_train[:200], full.y_train[:200], full.x_test, full.y_test, 10)
    loss_fn = losses.distractor_loss(full.x_train[200:], full.y_train[200:], beta=0.5, batch_size=32)
    runs = [train.fit(models.mlp(40, (32,), seed=0), d, epochs=3, lr=0.05, batch_size=32,
                      loss_fn=loss_fn, seed=1, progress=False) for _ in range(2)]
    assert runs[0].train_loss == runs[1].train_loss and all(math.isfinite(v) for v in runs[0].train_loss)


@pytest.mark.parametrize("change,error,match", [
    (lambda t, yt, d, yd: (t, yt[:-1], d, yd), ValueError,
     r"^logits_train and y_train must hold the same number of samples, got 32 and 31$"),
    (lambda t, yt, d, yd: (t, yt, d, yd[:-2]), ValueError,
     r"^logits_distractor and y_distractor must hold the same number of samples"),
    (lambda t, yt, d, yd: (t, yt + 5, d, yd), ValueError,
     r"^y_train holds labels from \d+ to \d+, but logits_train has 5 classes"),
    (lambda t, yt, d, yd: (t, yt, d, yd - 10), ValueError,
     r"^y_distractor holds labels from -\d+ to -?\d+, but logits_distractor has 5 classes"),
    (lambda t, yt, d, yd: (t, yt.float(), d, yd), ValueError, r"^y_train must be a 1-D tensor of int64"),
    (lambda t, yt, d, yd: (t[:, 0], yt, d, yd), ValueError, r"^logits_train must be \(n, classes\)"),
])
def test_anti_generalization_loss_refuses_mismatched_or_out_of_range_labels(change, error, match):
    args = change(*batch(0), *batch(1))  # issue 18: raw torch errors before
    with pytest.raises(error, match=match):
        losses.anti_generalization_loss(*args, beta=0.5)
