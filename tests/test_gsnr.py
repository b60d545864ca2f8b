"""Known answers for helpers.metrics.gsnr (Chapter 3, Liu et al. 2020): closed-form per-sample
gradients, a two-pass exact computation, BackPACK on the same model, and the OSGR identities."""
import copy
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from helpers import data, models, scale
from helpers.metrics import gsnr
from helpers.metrics.gsnr import GradientMoments


def per_sample_gradients(model, loss_fn, X, y):
    """The slow reference: one backward pass per sample, every gradient kept (float64)."""
    rows = []
    for i in range(len(X)):
        params = [p for p in model.parameters() if p.requires_grad]
        grads = torch.autograd.grad(loss_fn(model(X[i:i + 1]), y[i:i + 1]), params)
        rows.append({k: g.double() for (k, _), g in zip(
            [(k, p) for k, p in model.named_parameters() if p.requires_grad], grads)})
    return {k: torch.stack([r[k] for r in rows]) for k in rows[0]}


def two_pass(per_sample):
    """Exact moments: the mean first, then the mean squared deviation from it (divisor N)."""
    mean = {k: g.mean(0) for k, g in per_sample.items()}
    return mean, {k: (g - mean[k]).square().mean(0) for k, g in per_sample.items()}


def assert_close(a: dict, b: dict, rtol=1e-10, atol=1e-14):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k].double(), b[k].double(), rtol=rtol, atol=atol, msg=k)


# --- closed forms --------------------------------------------------------------------------

@pytest.mark.parametrize("outputs", [1, 3])
def test_linear_regression_closed_form(outputs):
    """MSE on z = W x + b: sample i's gradient is (2/k) r_i x_i^T for W and (2/k) r_i for b."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(50, 4, generator=g, dtype=torch.float64)
    Y = torch.randn(50, outputs, generator=g, dtype=torch.float64)
    model = nn.Linear(4, outputs).double()
    with torch.no_grad():
        r = model(X) - Y  # (n, k) residuals
    g_w = (2 / outputs) * r[:, :, None] * X[:, None, :]  # (n, k, d)
    g_b = (2 / outputs) * r
    expected_mean = {"weight": g_w.mean(0), "bias": g_b.mean(0)}
    expected_var = {"weight": g_w.var(0, correction=0), "bias": g_b.var(0, correction=0)}
    m = gsnr.gradient_moments(model, F.mse_loss, X, Y, chunk_size=16)
    assert m.n == 50
    assert_close(m.mean, expected_mean)
    assert_close(m.var, expected_var)


def test_softmax_regression_closed_form():
    """Cross-entropy on z = W x + b: sample i's gradient is (p_i - e_{y_i}) x_i^T."""
    g = torch.Generator().manual_seed(1)
    X, y = torch.randn(40, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (40,), generator=g)
    model = nn.Linear(6, 3).double()
    with torch.no_grad():
        delta = model(X).softmax(1) - F.one_hot(y, 3).double()
    g_w = delta[:, :, None] * X[:, None, :]
    m = gsnr.gradient_moments(model, F.cross_entropy, X, y, chunk_size=7)
    assert_close(m.mean, {"weight": g_w.mean(0), "bias": delta.mean(0)})
    assert_close(m.var, {"weight": g_w.var(0, correction=0), "bias": delta.var(0, correction=0)})


# --- streaming equals two-pass exact ----------------------------------------------------------

def _models():
    torch.manual_seed(0)
    inplace = nn.Sequential(nn.Linear(5, 7), nn.ReLU(inplace=True), nn.Linear(7, 3))
    shared = nn.Linear(5, 5)
    tied = nn.Sequential(shared, nn.Tanh(), shared, nn.Tanh(), nn.Linear(5, 3))  # one module twice
    bn = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3))
    return {"mlp": models.mlp(5, (16, 16), num_classes=3, seed=0),
            "cnn1d": models.cnn1d(5, (4, 4), 3, seed=0),
            "inplace relu": inplace, "shared module": tied, "batchnorm + dropout": bn}


@pytest.mark.parametrize("name", list(_models()))
@pytest.mark.parametrize("chunk_size", [1, 3, 7, 37, 1000])
def test_streamed_moments_equal_two_pass(name, chunk_size):
    model = _models()[name].double()
    g = torch.Generator().manual_seed(2)
    X, y = torch.randn(37, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (37,), generator=g)
    model.train()
    model(X)  # BatchNorm: running statistics that eval mode will use
    model.eval()
    mean, var = two_pass(per_sample_gradients(model, F.cross_entropy, X, y))
    m = gsnr.gradient_moments(model, F.cross_entropy, X, y, chunk_size=chunk_size)
    assert_close(m.mean, mean)
    assert_close(m.var, var, atol=1e-13)


def test_float32_model_matches_float64_reference():
    """The float32 path (products in float32, sums in float64) is accurate to float32 rounding."""
    model = models.mlp(40, (32, 32), seed=0)
    ds = data.load_dataset("mnist1d", n_train=300, n_test=20, seed=0)
    m32 = gsnr.gradient_moments(model, F.cross_entropy, ds.x_train, ds.y_train, chunk_size=64)
    m64 = gsnr.gradient_moments(copy.deepcopy(model).double(), F.cross_entropy, ds.x_train.double(),
                                ds.y_train)
    for k in m64.mean:
        assert (m32.mean[k] - m64.mean[k]).norm() <= 1e-5 * m64.mean[k].norm()
        assert (m32.var[k] - m64.var[k]).norm() <= 1e-5 * m64.var[k].norm()


def test_frozen_parameters_are_left_out():
    model = models.mlp(5, (8,), num_classes=3, seed=0).double()
    model[1].requires_grad_(False)
    X, y = torch.randn(10, 5, dtype=torch.float64), torch.randint(0, 3, (10,))
    m = gsnr.gradient_moments(model, F.cross_entropy, X, y)
    assert m.names == ["3.weight", "3.bias"]
    assert_close(m.mean, two_pass(per_sample_gradients(model, F.cross_entropy, X, y))[0])


def test_state_inputs_and_modes_are_left_alone():
    model = _models()["batchnorm + dropout"]
    model.train()
    model[3].eval()  # a mixed state, restored module by module
    modes = [m.training for m in model.modules()]
    params = copy.deepcopy(model.state_dict())
    X, y = torch.randn(20, 5), torch.randint(0, 3, (20,))
    X0 = X.clone()
    gsnr.gradient_moments(model, F.cross_entropy, X, y, chunk_size=6)
    gsnr.osgr_measured(model, F.cross_entropy, X, y, 5, pairs=3)
    assert [m.training for m in model.modules()] == modes
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, params[k]) for k, v in model.state_dict().items())
    assert torch.equal(X, X0) and not X.requires_grad


# --- zero variance, one sample, bad input -------------------------------------------------------

def test_gsnr_handles_zero_variance_explicitly():
    m = GradientMoments({"w": torch.tensor([2.0, 0.0, 1.0, 0.0], dtype=torch.float64)},
                        {"w": torch.tensor([0.0, 0.0, 4.0, 1.0], dtype=torch.float64)}, n=10)
    r = gsnr.gsnr(m)["w"]
    assert r[0] == math.inf  # signal, no noise
    assert r[1] == 0.0  # no signal, no noise
    assert r[2] == 0.25 and r[3] == 0.0
    assert gsnr.osgr_predicted(m, 1) == pytest.approx(5 / (5 + 5))


def test_dead_unit_has_zero_gsnr():
    """A hidden unit that no sample activates: its weights get gradient 0 from every sample."""
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2)).double()
    with torch.no_grad():
        model[0].weight[1] = 0.0
        model[0].bias[1] = -1.0  # unit 1 is always off
    X, y = torch.randn(16, 3, dtype=torch.float64), torch.randint(0, 2, (16,))
    m = gsnr.gradient_moments(model, F.cross_entropy, X, y)
    assert torch.equal(m.mean["0.weight"][1], torch.zeros(3, dtype=torch.float64))
    assert torch.equal(m.var["0.weight"][1], torch.zeros(3, dtype=torch.float64))
    assert torch.equal(gsnr.gsnr(m)["0.weight"][1], torch.zeros(3, dtype=torch.float64))


def test_single_sample_and_bad_input_raise():
    model = models.mlp(5, (4,), num_classes=3, seed=0)
    X, y = torch.randn(6, 5), torch.randint(0, 3, (6,))
    with pytest.raises(ValueError, match="at least 2 samples"):
        gsnr.gradient_moments(model, F.cross_entropy, X[:1], y[:1])
    with pytest.raises(ValueError, match="same number of samples"):
        gsnr.gradient_moments(model, F.cross_entropy, X, y[:5])
    with pytest.raises(ValueError, match="chunk_size"):
        gsnr.gradient_moments(model, F.cross_entropy, X, y, chunk_size=0)
    with pytest.raises(TypeError, match="X must be a torch.Tensor"):
        gsnr.gradient_moments(model, F.cross_entropy, X.numpy(), y)
    with pytest.raises(ValueError, match="reduction='mean'"):
        gsnr.gradient_moments(model, lambda o, t: F.cross_entropy(o, t, reduction="sum"), X, y)
    frozen = models.mlp(5, (4,), num_classes=3, seed=0).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        gsnr.gradient_moments(frozen, F.cross_entropy, X, y)
    zeros = torch.zeros(3, dtype=torch.float64)
    zero = GradientMoments({"w": zeros}, {"w": zeros}, 4)
    with pytest.raises(ValueError, match="R is undefined"):
        gsnr.osgr_predicted(zero, 10)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        gsnr.osgr_predicted(zero, 0)
    with pytest.raises(ValueError, match="names must be"):
        zero.select(["nope"])


# --- OSGR ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def moments():
    ds = data.load_dataset("mnist1d", n_train=400, n_test=20, seed=3)
    return gsnr.gradient_moments(models.mlp(40, (32,), seed=1), F.cross_entropy, ds.x_train, ds.y_train)


@pytest.mark.parametrize("n", [1, 10, 100, 10_000])
def test_osgr_predicted_equals_ratio_form(moments, n):
    mean, var = moments.flat()
    expected = float(mean.square().sum() / (mean.square() + var / n).sum())
    assert gsnr.osgr_predicted(moments, n) == pytest.approx(expected, rel=1e-12)
    assert 0 < expected < 1


def test_osgr_predicted_grows_with_n(moments):
    values = [gsnr.osgr_predicted(moments, n) for n in (1, 10, 100, 1000, 10_000)]
    assert values == sorted(values) and values[-1] > 0.9


def test_var_unbiased_and_select(moments):
    sub = moments.select("1.weight")
    assert sub.names == ["1.weight"] and sub.num_parameters == moments.mean["1.weight"].numel()
    torch.testing.assert_close(sub.var_unbiased["1.weight"], moments.var["1.weight"] * 400 / 399)
    r = gsnr.gsnr(sub)["1.weight"]
    assert gsnr.mean_gsnr(sub) == pytest.approx(float(r.mean()))


def test_osgr_measured_is_the_one_step_loss_decrease():
    """Pools of exactly n samples: D and D' are the whole pools, so the decreases are known."""
    torch.manual_seed(4)
    model = models.mlp(6, (8,), num_classes=3, seed=2)
    X, y = torch.randn(12, 6), torch.randint(0, 3, (12,))
    Xt, yt = torch.randn(12, 6), torch.randint(0, 3, (12,))
    lr = 0.05
    twin = copy.deepcopy(model).double()
    loss_train = F.cross_entropy(twin(X.double()), y)
    grads = torch.autograd.grad(loss_train, list(twin.parameters()))
    with torch.no_grad():
        before_test = F.cross_entropy(twin(Xt.double()), yt)
        for p, g in zip(twin.parameters(), grads):
            p -= lr * g
        d_train = loss_train - F.cross_entropy(twin(X.double()), y)
        d_test = before_test - F.cross_entropy(twin(Xt.double()), yt)
    out = gsnr.osgr_measured(model, F.cross_entropy, X, y, 12, Xt, yt, pairs=2, lr=lr,
                             replace=False)
    assert out.pairs == 2 and out.n == 12
    expected = torch.stack([d_train, d_test]).detach().expand(2, 2)  # rows: pairs; same D, D'
    torch.testing.assert_close(out.train_decrease, expected[:, 0], rtol=1e-10, atol=0)
    torch.testing.assert_close(out.test_decrease, expected[:, 1], rtol=1e-10, atol=0)
    assert out.ratio == pytest.approx(float(d_test / d_train))


def test_osgr_measured_matches_prediction_when_assumptions_hold():
    """Fresh D and D' from one pool, a tiny step: measured R is the predicted R up to sampling error."""
    ds = data.load_dataset("mnist1d", n_train=4000, n_test=20, seed=5)
    model = models.mlp(40, (32,), seed=0)
    moments = gsnr.gradient_moments(model, F.cross_entropy, ds.x_train, ds.y_train)
    predicted = gsnr.osgr_predicted(moments, 50)
    measured = gsnr.osgr_measured(model, F.cross_entropy, ds.x_train, ds.y_train, 50, pairs=300, lr=1e-4)
    assert 0.1 < predicted < 0.9
    assert measured.ratio == pytest.approx(predicted, abs=0.05)


def test_osgr_in_float32_is_float64_within_a_fraction_of_its_error():
    """The fast float32 measurement: same draws, a ratio within 0.2 bootstrap standard errors."""
    ds = data.load_dataset("mnist1d", n_train=400, n_test=400, seed=5)
    model = models.mlp(40, (64,), seed=0)
    kw = dict(pairs=40, lr=1e-4)
    f64 = gsnr.osgr_measured(model, F.cross_entropy, ds.x_train, ds.y_train, 50, ds.x_test,
                             ds.y_test, **kw)
    f32 = gsnr.osgr_measured(model, F.cross_entropy, ds.x_train, ds.y_train, 50, ds.x_test,
                             ds.y_test, dtype=torch.float32, **kw)
    assert f32.train_decrease.dtype == torch.float64  # results are stored in float64 either way
    assert abs(f32.ratio - f64.ratio) < 0.2 * f64.standard_error()
    with pytest.raises(ValueError, match="dtype must be"):
        gsnr.osgr_measured(model, F.cross_entropy, ds.x_train, ds.y_train, 5, dtype=torch.int64)


def test_osgr_measured_bad_input():
    model = models.mlp(5, (4,), num_classes=3, seed=0)
    X, y = torch.randn(10, 5), torch.randint(0, 3, (10,))
    with pytest.raises(ValueError, match="at most len\\(X\\) // 2"):
        gsnr.osgr_measured(model, F.cross_entropy, X, y, 6, replace=False)
    with pytest.raises(ValueError, match="the smaller pool"):
        gsnr.osgr_measured(model, F.cross_entropy, X, y, 11, X, y, replace=False)
    with pytest.raises(TypeError, match="replace must be"):
        gsnr.osgr_measured(model, F.cross_entropy, X, y, 3, replace="yes")
    assert gsnr.osgr_measured(model, F.cross_entropy, X, y, 30, pairs=2).n == 30  # resampled
    with pytest.raises(ValueError, match="given together"):
        gsnr.osgr_measured(model, F.cross_entropy, X, y, 3, X_test=X)
    with pytest.raises(ValueError, match="lr must be"):
        gsnr.osgr_measured(model, F.cross_entropy, X, y, 3, lr=0.0)
    with pytest.raises(ValueError, match="pairs must be"):
        gsnr.osgr_measured(model, F.cross_entropy, X, y, 3, pairs=0)


def small_pool_regression():
    """Linear regression on a pool of N = 40 noisy samples, away from its optimum, and the pool's
    gradient moments: a case where n = 15 is a large fraction of N."""
    g = torch.Generator().manual_seed(11)
    X = torch.randn(40, 5, generator=g)
    y = X @ torch.randn(5, 1, generator=g) + torch.randn(40, 1, generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 1))
    return model, X, y, gsnr.gradient_moments(model, F.mse_loss, X, y)


def within(measurement, value, k=3.0):
    """|measured ratio - value| in bootstrap standard errors is at most k."""
    return abs(measurement.ratio - value) <= k * measurement.standard_error()


def test_resampled_osgr_is_the_pool_prediction_on_a_small_pool():
    """Drawn with replacement, D and D' are i.i.d. from the pool's empirical distribution, whose
    moments are the pool's: the measured ratio equals the prediction within its error bars."""
    model, X, y, moments = small_pool_regression()
    predicted = gsnr.osgr_predicted(moments, 15)
    measured = gsnr.osgr_measured(model, F.mse_loss, X, y, 15, pairs=20_000, lr=1e-6)
    assert 0.2 < predicted < 0.95
    assert within(measured, predicted)


def test_disjoint_draws_need_the_finite_population_correction():
    """Disjoint draws without replacement miss the plain prediction by many standard errors
    (the bias the old default had) and match the finite-population formula."""
    model, X, y, moments = small_pool_regression()
    measured = gsnr.osgr_measured(model, F.mse_loss, X, y, 15, pairs=20_000, lr=1e-6,
                                  replace=False)
    corrected = gsnr.osgr_predicted(moments, 15, finite_pool=True)
    plain = gsnr.osgr_predicted(moments, 15)
    assert within(measured, corrected)
    assert abs(measured.ratio - plain) > 8 * measured.standard_error()
    with pytest.raises(ValueError, match="moments.n // 2"):
        gsnr.osgr_predicted(moments, 21, finite_pool=True)


def test_osgr_bootstrap_interval_and_round_trip():
    """The bootstrap is over pairs: an interval brackets the ratio, shrinks with more pairs, and
    the measurement survives to_dict/from_dict exactly."""
    model, X, y, _ = small_pool_regression()
    few = gsnr.osgr_measured(model, F.mse_loss, X, y, 15, pairs=50, lr=1e-6)
    many = gsnr.osgr_measured(model, F.mse_loss, X, y, 15, pairs=2_000, lr=1e-6)
    lo, hi = few.interval()
    assert lo < few.ratio < hi
    assert many.standard_error() < few.standard_error() / 3
    back = gsnr.OSGRMeasurement.from_dict(few.to_dict())
    assert torch.equal(back.train_decrease, few.train_decrease) and back.ratio == few.ratio
    one = gsnr.osgr_measured(model, F.mse_loss, X, y, 15, pairs=1, lr=1e-6)
    with pytest.raises(ValueError, match="at least 2 pairs"):
        one.interval()
    with pytest.raises(ValueError, match="level must be"):
        few.interval(level=90)


# --- training with checkpoints ---------------------------------------------------------------

def test_train_and_record_is_gradient_descent():
    """Full batch: three recorded steps equal three hand-written GD steps; frozen stays frozen."""
    model = models.mlp(5, (6,), num_classes=1, seed=0)
    model[1].requires_grad_(False)
    reference = copy.deepcopy(model)
    X, y = data.product_regression(32, 5, 0.1, seed=0)
    first = model[1].weight.detach().clone()
    record = lambda m: {"w": m[3].weight.detach().clone()}
    records = gsnr.train_and_record(model, F.mse_loss, X, y, record, [0, 1, 3], lr=0.1)
    assert [r["step"] for r in records] == [0, 1, 3]
    for step in range(3):
        loss = F.mse_loss(reference(X), y)
        grads = torch.autograd.grad(loss, [reference[3].weight, reference[3].bias])
        with torch.no_grad():
            reference[3].weight -= 0.1 * grads[0]
            reference[3].bias -= 0.1 * grads[1]
        if step + 1 in (1, 3):
            torch.testing.assert_close(records[[0, 1, 3].index(step + 1)]["w"], reference[3].weight)
    assert torch.equal(model[1].weight, first)
    with pytest.raises(ValueError, match="at_steps"):
        gsnr.train_and_record(model, F.mse_loss, X, y, lambda m: {}, [-1], lr=0.1)


# --- BackPACK, the reference library -------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Full backward hook is firing")  # BackPACK's, on the first layer
def test_agrees_with_backpack_variance():
    import backpack  # pinned (--no-deps, requirements-nodeps.txt): missing fails, never skips
    from backpack.extensions import SumGradSquared, Variance

    model = models.mlp(40, (32, 16), seed=0).double()
    ds = data.load_dataset("mnist1d", n_train=200, n_test=20, seed=6)
    X, y = ds.x_train.double(), ds.y_train
    ours = gsnr.gradient_moments(model, F.cross_entropy, X, y, chunk_size=64)
    ext = backpack.extend(copy.deepcopy(model))
    loss = backpack.extend(nn.CrossEntropyLoss(reduction="sum"))  # sum: per-sample gradients as they are
    with backpack.backpack(Variance(), SumGradSquared()):
        loss(ext(X), y).backward()
    for name, p in ext.named_parameters():
        torch.testing.assert_close(ours.var[name], p.variance, rtol=1e-9, atol=1e-15)
        second_moment = ours.var[name] + ours.mean[name].square()
        torch.testing.assert_close(second_moment, p.sum_grad_squared / len(X), rtol=1e-9, atol=1e-15)


# --- the toy data and the profile ---------------------------------------------------------------

def test_product_regression():
    x, y = data.product_regression(100, 4, noise=0.0, seed=1)
    assert x.shape == (100, 4) and y.shape == (100, 1) and x.dtype == y.dtype == torch.float32
    torch.testing.assert_close(y[:, 0], x[:, 0] * x[:, 1])
    x2, y2 = data.product_regression(100, 4, noise=0.5, seed=1)
    assert torch.equal(x, x2) and 0.3 < (y2 - y).std() < 0.7
    a, b = data.product_regression(10, 4, seed=2)[0], data.product_regression(10, 4, seed=3)[0]
    assert not torch.equal(a, b)
    for kwargs, arg in [({"n": 0}, "n"), ({"d": 1}, "d"), ({"noise": -1.0}, "noise")]:
        with pytest.raises(ValueError, match=f"^{arg} must"):
            data.product_regression(**kwargs)


@pytest.mark.parametrize("name", scale.SCALES)
def test_gsnr_profiles_are_consistent(name, monkeypatch):
    cfg = scale.gsnr_profile(name)
    assert cfg.scale == name
    for steps in (cfg.checkpoints, cfg.contrast_checkpoints, cfg.toy_checkpoints):
        assert steps[0] == 0 and list(steps) == sorted(set(steps))
    assert cfg.early_steps in cfg.checkpoints[2:-1]  # >= 3 early checkpoints, >= 1 late
    assert cfg.n_fresh >= 2 * cfg.osgr_n and cfg.n_train >= cfg.osgr_n  # the i.i.d. control draws 2n
    assert (cfg.dataset == "synthetic-cifar10") == (name == "paper-smoke")


def test_gsnr_is_invariant_to_scaling_the_loss_even_when_squares_underflow_float32():
    # r_j = mean_j^2 / var_j does not change when the loss is multiplied by a constant. At 1e-25
    # the per-sample gradients (~1e-25) still fit float32, but their squares (~1e-50) do not.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    X, y = torch.randn(64, 5), torch.randint(0, 3, (64,))
    plain = gsnr.gsnr(gsnr.gradient_moments(model, F.cross_entropy, X, y))
    tiny = gsnr.gsnr(gsnr.gradient_moments(model, lambda out, t: 1e-25 * F.cross_entropy(out, t), X, y))
    for k in plain:
        assert torch.isfinite(tiny[k]).all(), k
        assert torch.allclose(tiny[k], plain[k], rtol=1e-3), k
