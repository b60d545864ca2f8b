"""helpers.safety: modes restored submodule by submodule, devices, argument checks that name the
argument, the batched evaluation against plain PyTorch, and the NaN inputs every metric refuses."""
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from helpers import losses, safety
from helpers.metrics import gsnr, landscape, normalized


def mixed_modes() -> nn.Sequential:
    """A model in train mode whose Dropout was put in eval mode and whose BatchNorm trains."""
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(8, 3)).train()
    model[3].eval()
    return model


def modes(model: nn.Module) -> list[bool]:
    return [m.training for m in model.modules()]


def classification(n=50, d=4, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, classes, (n,), generator=g)


# --- eval_mode ---------------------------------------------------------------------------------

def test_eval_mode_restores_every_submodules_own_mode():
    model = mixed_modes()
    before = modes(model)
    assert before == [True, True, True, True, False, True]
    with safety.eval_mode(model) as inside:
        assert inside is model and not any(modes(model))
    assert modes(model) == before  # the Dropout stays in eval, the BatchNorm in train


def test_eval_mode_restores_modes_after_an_exception():
    model = mixed_modes()
    before = modes(model)
    with pytest.raises(RuntimeError, match="inside"):
        with safety.eval_mode(model):
            raise RuntimeError("raised inside the block")
    assert modes(model) == before


def test_eval_mode_can_switch_to_train_mode():
    model = mixed_modes().eval()
    model[1].train()  # now an eval model with one BatchNorm in train mode
    before = modes(model)
    with safety.eval_mode(model, training=True):
        assert all(modes(model))
    assert modes(model) == before == [False, False, True, False, False, False]


# --- model_device and check_model --------------------------------------------------------------

def test_model_device_from_parameters_then_buffers():
    assert safety.model_device(nn.Linear(2, 2)) == torch.device("cpu")
    assert safety.model_device(nn.Linear(2, 2, device="meta")).type == "meta"
    buffers_only = nn.BatchNorm1d(3, affine=False, device="meta")  # running stats, no weights
    assert list(buffers_only.parameters()) == []
    assert safety.model_device(buffers_only).type == "meta"
    with pytest.raises(ValueError, match="model has neither parameters nor buffers"):
        safety.model_device(nn.ReLU())


def test_check_model_names_the_argument():
    safety.check_model(nn.ReLU())
    with pytest.raises(TypeError, match="^model must be a torch.nn.Module, got int$"):
        safety.check_model(3)
    with pytest.raises(TypeError, match="^init must be a torch.nn.Module, got str"):
        safety.check_model("net", "init")


# --- check_xy ----------------------------------------------------------------------------------

def test_check_xy_accepts_good_data():
    X, y = classification()
    safety.check_xy(X, y)
    safety.check_xy(X[:2], y[:2], min_samples=2)
    safety.check_xy(torch.arange(6).reshape(3, 2), torch.zeros(3))  # integer X: no NaN to check


@pytest.mark.parametrize("args,kwargs,error,match", [
    ((np.zeros((3, 2)), torch.zeros(3)), {}, TypeError, "^X must be a torch.Tensor, got ndarray"),
    ((torch.zeros(3, 2), [0, 1, 2]), {}, TypeError, "^y must be a torch.Tensor, got list"),
    ((torch.zeros(3, 2), [0, 1, 2]), {"name": "X_test"}, TypeError, "^y_test must be a torch.Tensor"),
    ((torch.zeros(3, 2), torch.zeros(3)), {"name": "x_distractor", "min_samples": 4}, ValueError,
     "^x_distractor must hold at least 4 samples, got 3$"),
    ((torch.zeros(()), torch.zeros(())), {}, ValueError, "^X must have a sample dimension"),
    ((torch.zeros(5, 2), torch.zeros(4)), {}, ValueError,
     "^X and y must hold the same number of samples, got 5 and 4$"),
    ((torch.zeros(5, 2), torch.zeros(4)), {"name": "X_test"}, ValueError, "^X_test and y_test must hold"),
    ((torch.zeros(0, 2), torch.zeros(0)), {}, ValueError, "^X must hold at least 1 sample, got 0$"),
    ((torch.zeros(1, 2), torch.zeros(1)), {"min_samples": 2, "why": "a variance needs two"},
     ValueError, r"^X must hold at least 2 samples \(a variance needs two\), got 1$"),
    ((torch.tensor([[0.0, math.nan], [1.0, 2.0]]), torch.zeros(2)), {}, ValueError,
     r"^X contains NaN or inf \(1 of 4 entries\)"),
    ((torch.tensor([[0.0, math.inf]]), torch.zeros(1)), {"name": "X_test"}, ValueError,
     "^X_test contains NaN or inf"),
    ((torch.zeros(2, 2), torch.tensor([0.0, -math.inf])), {}, ValueError, "^y contains NaN or inf"),
])
def test_check_xy_names_the_argument(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        safety.check_xy(*args, **kwargs)


def test_check_mean_reduction():
    out, y = torch.randn(6, 3), torch.randint(0, 3, (6,))
    safety.check_mean_reduction(F.cross_entropy, out, y)
    with pytest.raises(ValueError, match="reduction='mean'"):
        safety.check_mean_reduction(lambda o, t: F.cross_entropy(o, t, reduction="sum"), out, y)


# --- batched_loss_and_accuracy -----------------------------------------------------------------

def plain_loss_and_accuracy(model, X, y):
    """The reference: one eval-mode forward pass over all of X."""
    with torch.no_grad():
        out = model.eval()(X)
    return F.cross_entropy(out, y).item(), (out.argmax(1) == y).double().mean().item()


@pytest.mark.parametrize("batch_size", [1, 7, 10, 50, 4096])  # 7 does not divide 50; 10 does
def test_batched_evaluation_equals_one_plain_pass(batch_size):
    X, y = classification(n=50)
    model = mixed_modes().double()
    X = X.double()
    before = modes(model)
    loss, accuracy = safety.batched_loss_and_accuracy(model, X, y, batch_size=batch_size)
    mean_loss, _ = safety.batched_loss_and_accuracy(model, X, y, F.cross_entropy, batch_size=batch_size)
    assert modes(model) == before  # evaluated in eval mode, its modes given back
    ref_loss, ref_accuracy = plain_loss_and_accuracy(model, X, y)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert mean_loss == pytest.approx(ref_loss, rel=1e-12)
    assert accuracy == ref_accuracy  # count / n: the same float
    assert 0 < accuracy < 1  # an untrained net: some right and some wrong, so the check can fail


def test_batched_evaluation_with_substituted_parameters():
    X, y = classification(n=30)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    params = {n: p.detach() + 0.5 for n, p in model.named_parameters()}
    shifted = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    shifted.load_state_dict(params)
    weights = [p.clone() for p in model.parameters()]
    got = safety.batched_loss_and_accuracy(model, X, y, batch_size=8, params=params)
    assert got == pytest.approx(plain_loss_and_accuracy(shifted, X, y), rel=1e-6)
    assert got != pytest.approx(plain_loss_and_accuracy(model, X, y), rel=1e-6)
    assert all(torch.equal(p, w) for p, w in zip(model.parameters(), weights))  # untouched
    assert torch.equal(functional_call(model, params, (X,)), shifted(X))


def test_batched_evaluation_of_a_regressor_and_bad_losses():
    X, t = torch.randn(20, 3), torch.randn(20, 1)
    model = nn.Linear(3, 1)
    loss, accuracy = safety.batched_loss_and_accuracy(model, X, t, F.mse_loss, batch_size=6)
    assert loss == pytest.approx(F.mse_loss(model(X), t).item(), rel=1e-6)
    assert math.isnan(accuracy)  # not class scores: no accuracy rather than a made-up 0
    with pytest.raises(ValueError, match="reduction='mean'"):
        safety.batched_loss_and_accuracy(model, X, t, lambda o, s: F.mse_loss(o, s, reduction="sum"))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        safety.batched_loss_and_accuracy(model, X, t, F.mse_loss, batch_size=0)


# --- the metrics use them ----------------------------------------------------------------------

def test_diverging_train_and_record_restores_every_mode():
    X, t = torch.randn(32, 4), torch.randn(32, 3) * 10
    model = mixed_modes()
    before = modes(model)
    seen = []
    record = lambda m: seen.append(modes(m)) or {}
    with pytest.raises(FloatingPointError, match="training diverged"):
        gsnr.train_and_record(model, F.mse_loss, X, t, record, [0, 200], lr=1e6)
    assert seen == [[True] * 6]  # step 0 recorded in train mode; step 200 never reached
    assert modes(model) == before  # the Dropout back in eval, though training raised
    assert all(p.grad is None for p in model.parameters())


def test_train_and_record_restores_modes_of_an_eval_model():
    X, y = classification(n=20)
    model = mixed_modes().eval()
    model[1].train()
    before = modes(model)
    gsnr.train_and_record(model, F.cross_entropy, X, y, lambda m: {}, [0, 2], lr=0.1)
    assert modes(model) == before


def nan_inputs():
    X, y = classification(n=20)
    X[3, 1] = math.nan
    return X, y


def mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3, bias=False))


NAN_ENTRY_POINTS = {
    "normalized_cross_entropy": lambda X, y: normalized.normalized_cross_entropy(mlp(), X, y),
    "loss_slice": lambda X, y: landscape.loss_slice(
        mlp(), landscape.filter_normalized_direction(mlp()), [0.0, 1.0], X, y),
    "top_hessian_eigenvalue": lambda X, y: landscape.top_hessian_eigenvalue(mlp(), None, X, y),
    "hessian_trace": lambda X, y: landscape.hessian_trace(mlp(), None, X, y),
    "basin_radius": lambda X, y: landscape.basin_radius(mlp(), X, y, threshold=10.0),
    "pac_bayes_sigma": lambda X, y: landscape.pac_bayes_sigma(mlp(), X, y),
    "worst_case_alpha": lambda X, y: landscape.worst_case_alpha(mlp(), X, y),
    "gradient_moments": lambda X, y: gsnr.gradient_moments(mlp(), F.cross_entropy, X, y),
    "osgr_measured": lambda X, y: gsnr.osgr_measured(mlp(), F.cross_entropy, X, y, 5),
    "train_and_record": lambda X, y: gsnr.train_and_record(
        mlp(), F.cross_entropy, X, y, lambda m: {}, [0, 1], lr=0.1),
    "batched_loss_and_accuracy": lambda X, y: safety.batched_loss_and_accuracy(mlp(), X, y),
}


@pytest.mark.parametrize("name", NAN_ENTRY_POINTS)
def test_metrics_refuse_nan_inputs(name):
    with pytest.raises(ValueError, match="^X contains NaN or inf"):
        NAN_ENTRY_POINTS[name](*nan_inputs())


def test_nan_in_a_test_set_or_the_distractors_is_refused():
    X, y = classification(n=20)
    X_bad, y_bad = nan_inputs()
    with pytest.raises(ValueError, match="^X_test contains NaN or inf"):
        gsnr.osgr_measured(mlp(), F.cross_entropy, X, y, 5, X_bad, y_bad)
    with pytest.raises(ValueError, match="^x_distractor contains NaN or inf"):
        losses.distractor_loss(X_bad, y_bad, beta=0.5, batch_size=4)
    with pytest.raises(ValueError, match="^x_distractor and y_distractor must hold the same"):
        losses.distractor_loss(X, y[:5], beta=0.5, batch_size=4)


def test_metrics_refuse_a_model_that_is_not_a_module():
    X, y = classification(n=20)
    with pytest.raises(TypeError, match="^model must be a torch.nn.Module, got function"):
        landscape.pac_bayes_sigma(lambda x: x, X, y)
    with pytest.raises(TypeError, match="^model must be a torch.nn.Module"):
        normalized.normalized_cross_entropy("mlp", X, y)


# --- issue 18: more public functions against bad inputs ----------------------------------------

def _explorer(render, values=(0.0, 1.0)):
    from helpers import widgets
    return widgets.gap_explorer(list(values), render, symbol="p", default=values[0])


def _figure_for(value):
    import matplotlib.pyplot as plt
    return {0.0: plt.figure}[value]()  # a sweep with no figure at 1.0


def _measure_settings(**changes):
    from helpers import zoo
    kwargs = dict(measure_samples=16, sharpness_samples=1, n_directions=1, radius_threshold=0.3,
                  min_evals=20)
    return zoo.MeasureSettings(**{**kwargs, **changes})


BAD_INPUTS = {
    "gap_explorer: render returns None": (
        lambda: _explorer(lambda v: None), TypeError,
        r"^render\(0\.0\) must return a matplotlib Figure, got NoneType"),
    "gap_explorer: render lacks a grid value": (
        lambda: _explorer(_figure_for), ValueError,
        r"^render has no figure for the grid value 1\.0 \(KeyError"),
    "gap_explorer: train is not a function": (
        lambda: __import__("helpers.widgets").widgets.gap_explorer(
            [0.0], lambda v: __import__("matplotlib.pyplot").pyplot.figure(), symbol="p", default=0.0,
            train="fit"), TypeError, r"^train must be a function"),
    "gap_explorer: notebook with .ipynb": (
        lambda: __import__("helpers.widgets").widgets.gap_explorer(
            [0.0], lambda v: __import__("matplotlib.pyplot").pyplot.figure(), symbol="p", default=0.0,
            train=lambda v: None, notebook="01_randomization_tests.ipynb"), ValueError,
        r"^notebook must be a chapter's file name without '\.ipynb'"),
    "MeasureSettings: measure_samples=0": (
        lambda: _measure_settings(measure_samples=0), ValueError,
        r"^measure_samples must be an integer >= 2 \(a variance needs two\), got 0$"),
    "MeasureSettings: radius_threshold=-1": (
        lambda: _measure_settings(radius_threshold=-1.0), ValueError, r"^radius_threshold must be a positive"),
    "MeasureSettings: measures as a string": (
        lambda: _measure_settings(measures="gsnr"), TypeError, r"^measures must be a tuple of names"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_public_functions_refuse_bad_inputs(case):
    call, error, match = BAD_INPUTS[case]
    with pytest.raises(error, match=match):
        call()


def test_the_explorer_s_training_button_is_marked_for_the_static_site():
    # the site's stylesheet hides .needs-kernel and shows p.kernel-note; Jupyter shows the reverse
    import matplotlib.pyplot as plt
    from helpers import widgets
    box = widgets.gap_explorer([0.0, 1.0], lambda v: plt.figure(), symbol="p", default=0.0,
                               train=lambda v: plt.figure(), notebook="01_randomization_tests")
    note, button, output = box.children[-3:]
    assert "needs-kernel" in button._dom_classes and "needs-kernel" in output._dom_classes
    assert 'class="kernel-note" style="display:none' in note.value
    assert widgets.COLAB.format(notebook="01_randomization_tests") in note.value
    without = widgets.gap_explorer([0.0], lambda v: plt.figure(), symbol="p", default=0.0)
    assert not any("needs-kernel" in getattr(c, "_dom_classes", ()) for c in without.children)
    assert "colab.research.google.com/github/why-deep-networks-generalize/book/blob/main/book/" in widgets.COLAB
    plt.close("all")
