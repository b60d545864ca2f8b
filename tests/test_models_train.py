"""Models, the fit loop and the run layer: init, seeds, shape checks, stopping rules, divergence."""
import dataclasses
import json
import math
import warnings

import pytest
import torch

from helpers import data, models, train


def _separable(n=200, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = (x[:, 0] > 0).long()
    return data.Dataset("toy", x[: n // 2], y[: n // 2], x[n // 2:], y[n // 2:], 2)


@pytest.mark.parametrize("builder,shape", [(models.mlp, (40,)), (models.cnn1d, (40,)), (models.convnet, (3, 32, 32))])
def test_init_std_draws_weights_with_that_std_and_zero_biases(builder, shape):
    m = builder(shape, init_std=0.05, seed=0)
    weights = torch.cat([p.flatten() for n, p in m.named_parameters() if n.endswith("weight")])
    biases = torch.cat([p.flatten() for n, p in m.named_parameters() if n.endswith("bias")])
    assert abs(weights.std().item() - 0.05) < 0.002 and abs(weights.mean().item()) < 0.002
    assert torch.count_nonzero(biases) == 0


def test_same_seed_same_weights_and_global_rng_untouched():
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    a, b = models.mlp(40, seed=3), models.mlp(40, seed=3)
    assert torch.rand(1) == expected
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(models.mlp(40, seed=4)[1].weight, a[1].weight)


def test_models_produce_logits_of_the_right_shape():
    assert models.mlp((3, 32, 32), hidden=(16,)).forward(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert models.cnn1d((40,)).forward(torch.zeros(2, 40)).shape == (2, 10)
    assert models.convnet().forward(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert models.num_parameters(models.mlp(40, hidden=(512,))) == 40 * 512 + 512 + 512 * 10 + 10


@pytest.mark.parametrize("kwargs,match", [
    ({"init_std": -1.0}, "init_std must be a positive"), ({"hidden": (0,)}, "hidden must be"),
    ({"dropout": 1.0}, "dropout must lie")])
def test_bad_model_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.mlp(40, **kwargs)
    with pytest.raises(ValueError, match="architecture must be one of"):
        models.build("resnet", (40,))


def test_fit_reaches_target_and_records_history():
    d = _separable()
    h = train.fit(models.mlp(5, hidden=(32,), num_classes=2), d, epochs=200, lr=0.1, batch_size=20,
                  target_train_acc=1.0, progress=False, device="cpu")
    assert h.stop_reason == "target_acc" and h.train_acc[-1] == 1.0
    assert len(h.train_loss) == len(h.test_acc) == len(h.steps) == h.epochs < 200
    assert h.steps[-1] == 5 * h.epochs  # 100 samples / batch 20
    assert train.History.from_dict(h.to_dict()) == h


def test_fit_stops_at_target_loss_and_same_seed_same_run():
    d = _separable()
    runs = [train.fit(models.mlp(5, hidden=(32,), num_classes=2, seed=1), d, epochs=300, lr=0.1,
                      target_train_loss=0.05, seed=2, progress=False, device="cpu") for _ in range(2)]
    assert runs[0].stop_reason == "target_loss" and runs[0].train_loss[-1] <= 0.05
    assert runs[0].train_loss == runs[1].train_loss


def test_fit_reports_divergence():
    d = _separable()
    with pytest.warns(RuntimeWarning, match="diverged"):
        h = train.fit(models.mlp(5, num_classes=2, init_std=1.0), d, epochs=50, lr=1e6, momentum=0.9,
                      progress=False, device="cpu")
    assert h.diverged and h.stop_reason == "diverged" and h.epochs < 50


def test_fit_rejects_shape_mismatch_and_bad_arguments():
    d = _separable()
    with pytest.raises(ValueError, match=r"data.x_train has samples of shape \(5,\), but the model expects \(40,\)"):
        train.fit(models.mlp(40, num_classes=2), d, progress=False)
    m = models.mlp(5, num_classes=2)
    for kwargs, match in [({"epochs": 0}, "epochs must be"), ({"lr": -1.0}, "lr must be"),
                          ({"batch_size": 0}, "batch_size must be"), ({"target_train_acc": 1.5}, "target_train_acc"),
                          ({"optimizer": "lbfgs"}, "optimizer must be")]:
        with pytest.raises(ValueError, match=match):
            train.fit(m, d, progress=False, **kwargs)
    with pytest.raises(TypeError, match="data must be a helpers.data.Dataset"):
        train.fit(m, (d.x_train, d.y_train), progress=False)


def test_evaluate_restores_training_mode():
    m = models.mlp(5, num_classes=2, dropout=0.5)
    m.train()
    d = _separable()
    loss, acc = train.evaluate(m, d.x_test, d.y_test)
    assert m.training and 0 <= acc <= 1 and loss > 0
    m.eval()
    train.evaluate(m, d.x_test, d.y_test)
    assert not m.training


SPEC = dict(dataset="mnist1d", n_train=200, n_test=100, architecture="mlp", model_kwargs={"hidden": [32]},
            lr=0.05, batch_size=50, max_epochs=3, randomization="random labels", p=0.5, seed=1)


def _without_wall_time(record):
    return dict(record.to_dict(), history={k: v for k, v in record.history.to_dict().items() if k != "seconds"})


def test_a_run_spec_is_keyword_only_frozen_and_json_ready():
    spec = train.RunSpec(**SPEC)
    assert train.RunSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    with pytest.raises(TypeError):
        train.RunSpec("mnist1d")  # positional fields are refused
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.lr = 1.0
    assert spec.replace(lr=0.1).lr == 0.1 and spec.lr == 0.05
    for bad, match in [({"randomization": "noise"}, "randomization must be one of"),
                       ({"architecture": "resnet"}, "architecture must be one of"),
                       ({"p": 1.5}, "p must lie in"), ({"max_epochs": 0}, "max_epochs must be"),
                       ({"track": ["sharpness"]}, "track must name measures from")]:
        with pytest.raises(ValueError, match=match):
            train.RunSpec(**dict(SPEC, **bad))


def test_the_same_run_twice_in_one_process_is_bit_identical_dropout_included():
    spec = train.RunSpec(**dict(SPEC, model_kwargs={"hidden": [32, 32]}, dropout=0.5))
    torch.manual_seed(123)  # the caller's random state: the run must neither use nor disturb it
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b = train.run(spec), train.run(spec)
    assert torch.rand(1) == before
    assert _without_wall_time(a.record()) == _without_wall_time(b.record())
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))
    other = train.run(spec.replace(seed=2))  # and the seed does reach the masks and the init
    assert other.history.train_loss != a.history.train_loss


def test_dropout_masks_follow_the_seed_not_the_global_generator():
    spec = train.RunSpec(**dict(SPEC, model_kwargs={"hidden": [32, 32]}, dropout=0.5, max_epochs=1))
    torch.manual_seed(0)
    a = train.run(spec)
    torch.manual_seed(999)  # another global state: same masks, same result
    b = train.run(spec)
    assert a.history.train_loss == b.history.train_loss


def test_run_returns_the_model_the_data_and_a_record():
    run = train.run(train.RunSpec(**SPEC))
    assert run.num_parameters == 40 * 32 + 32 + 32 * 10 + 10 == run.record().num_parameters
    assert torch.equal(run.data.y_train, data.randomize(
        data.load_dataset("mnist1d", 200, 100), "random labels", p=0.5, seed=1).y_train)
    assert train.RunRecord.from_dict(json.loads(json.dumps(run.record().to_dict()))) == run.record()
    init = run.initial_model()
    assert all(torch.equal(p, q) for p, q in zip(init.parameters(), train.build_model(run.spec, run.data).parameters()))


def test_fit_uses_a_custom_batch_loss():
    d = _separable()
    seen = []

    def flipped(model, xb, yb, generator):
        seen.append(len(xb))
        return torch.nn.functional.cross_entropy(model(xb), 1 - yb)  # learn the opposite labels

    h = train.fit(models.mlp(5, hidden=(32,), num_classes=2), d, epochs=200, lr=0.1, batch_size=20,
                  loss_fn=flipped, target_train_loss=None, progress=False, device="cpu")
    assert seen and set(seen) == {20}
    assert h.train_acc[-1] < 0.05  # evaluated against the true labels: the model learned to be wrong


def test_run_pretrains_on_noise_then_tracks_the_normalized_loss():
    spec = train.RunSpec(dataset="mnist1d", n_train=200, n_test=100, architecture="mlp",
                         model_kwargs={"hidden": [32], "bias": "first"}, lr=0.05, batch_size=50, max_epochs=3,
                         target_train_acc=None, pretrain={"p": 1.0, "max_epochs": 2},
                         track=["normalized_cross_entropy"])
    assert spec.pretrain == train.Pretrain(p=1.0, max_epochs=2)
    run = train.run_record(spec)
    assert len(run.pretrain_history.train_loss) == 2 and len(run.history.train_loss) == 3
    metrics = run.history.metrics
    assert set(metrics) == {"normalized_cross_entropy/train", "normalized_cross_entropy/test"}
    assert all(len(v) == 3 and 0 < v[-1] < 2.4 for v in metrics.values())


def test_fit_records_epoch_metrics():
    d = _separable()
    h = train.fit(models.mlp(5, num_classes=2), d, epochs=3, epoch_metrics={"norm": lambda m: 1.5},
                  progress=False, device="cpu")
    assert h.metrics == {"norm": [1.5, 1.5, 1.5]}


def test_check_every_stops_inside_an_epoch_close_to_the_target():
    spec = train.RunSpec(dataset="mnist1d", n_train=400, n_test=100, architecture="mlp",
                         model_kwargs={"hidden": [64]}, lr=0.05, batch_size=20, max_epochs=100,
                         target_train_acc=None, target_train_loss=0.5)
    per_epoch = train.run(spec).history  # the loss falls by less than 2x per epoch here
    checked = train.run(spec.replace(check_every=2)).history
    assert per_epoch.stop_reason == checked.stop_reason == "target_loss"
    assert checked.steps[-1] < per_epoch.steps[-1] and checked.steps[-1] % 2 == 0
    assert checked.steps[-1] % 20 != 0  # it stopped inside an epoch (20 steps each)
    # the first check at or below the target: the step before was above it
    assert 0.5 * 0.9 < checked.train_loss[-1] <= 0.5 < per_epoch.train_loss[-2]
    assert checked.train_loss[:-1] == per_epoch.train_loss[:len(checked.train_loss) - 1]
    with pytest.raises(ValueError, match="check_every must be a positive integer"):
        spec.replace(check_every=0)


def test_first_correct_epoch_records_when_each_example_is_learned():
    spec = train.RunSpec(dataset="mnist1d", n_train=300, n_test=100, architecture="mlp",
                         model_kwargs={"hidden": [64]}, lr=0.05, batch_size=50, max_epochs=60,
                         randomization="random labels", p=0.5, track=["first_correct_epoch"])
    run = train.run(spec)
    first = torch.tensor(run.history.per_example["first_correct_epoch"])
    fraction = run.history.metrics["first_correct_epoch/fraction"]
    assert len(first) == 300 and len(fraction) == run.history.epochs
    assert run.history.stop_reason == "target_acc" and (first > 0).all()  # all fitted, so all learned
    for epoch, share in enumerate(fraction, start=1):  # the per-epoch share agrees with the record
        assert share == pytest.approx(((first > 0) & (first <= epoch)).double().mean().item())
    # an example first correct at epoch e is classified as labelled by the model of epoch e:
    # the last epoch's model gets every example right, and nothing was learned before epoch 1
    assert first.max() <= run.history.epochs and first.min() >= 1
    assert train.RunRecord.from_dict(json.loads(json.dumps(run.record().to_dict()))).history == run.history


# --- issue 18: every bad input of fit refused before training, a diverged epoch kept ------------

def _with(d, **changes):
    return dataclasses.replace(d, **changes)


def _fit(model, d, **kwargs):
    return train.fit(model, d, **{"epochs": 2, "lr": 0.1, "progress": False, "device": "cpu", **kwargs})


def _plain(width=5, classes=2):
    return torch.nn.Sequential(torch.nn.Linear(width, 8), torch.nn.ReLU(), torch.nn.Linear(8, classes))


def _bad_fit_cases():
    d = _separable()
    nan_test, nan_train = d.x_test.clone(), d.x_train.clone()
    nan_test[3, 1] = nan_train[0, 0] = float("nan")
    wide = torch.randn(100, 7)
    return {
        "nan in the test inputs": (_plain(), _with(d, x_test=nan_test), {}, ValueError,
                                   r"^data\.x_test contains NaN or inf"),
        "nan in the training inputs": (_plain(), _with(d, x_train=nan_train), {}, ValueError,
                                       r"^data\.x_train contains NaN or inf"),
        "wrong input width": (_plain(width=7), d, {}, ValueError,
                              r"model cannot take data\.x_train's samples of shape \(5,\)"),
        "too few outputs": (_plain(classes=1), d, {}, ValueError,
                            r"at least 2 classes.*num_classes=data\.num_classes \(2\)"),
        "float labels": (_plain(), _with(d, y_train=d.y_train.float()), {}, TypeError,
                         r"^data\.y_train must be a 1-D tensor of integer class labels.*float32"),
        "integer inputs": (_plain(), _with(d, x_train=d.x_train.long()), {}, TypeError,
                           r"^data\.x_train must be a floating-point tensor.*int64"),
        "labels >= classes": (_plain(), _with(d, y_train=d.y_train + 1), {}, ValueError,
                              r"^data\.y_train holds labels from 1 to 2, but data\.num_classes is 2"),
        "x and y of different lengths": (_plain(), _with(d, y_train=d.y_train[:50]), {}, ValueError,
                                         r"^data\.x_train and y_train must hold the same number"),
        "no parameters": (torch.nn.Flatten(), d, {}, ValueError, r"^model has no trainable parameters"),
        "empty test set": (_plain(), _with(d, x_test=d.x_test[:0], y_test=d.y_test[:0]), {}, ValueError,
                           r"^data\.x_test must hold at least 1 sample, got 0"),
        "empty train set": (_plain(), _with(d, x_train=d.x_train[:0], y_train=d.y_train[:0]), {},
                            ValueError, r"^data\.x_train must hold at least 1 sample, got 0"),
        "lr as a string": (_plain(), d, {"lr": "0.1"}, TypeError,
                           r"^lr must be a positive finite number, got '0\.1' of type str"),
        "not a model": ("mlp", d, {}, TypeError, r"^model must be a torch\.nn\.Module, got str"),
        "wide inputs, plain model": (_plain(), _with(d, x_train=wide), {}, ValueError,
                                     r"model cannot take data\.x_train's samples of shape \(7,\)"),
    }


@pytest.mark.parametrize("case", list(_bad_fit_cases()))
def test_fit_refuses_bad_inputs_before_training(case):
    model, d, kwargs, error, match = _bad_fit_cases()[case]
    before = [p.clone() for p in model.parameters()] if isinstance(model, torch.nn.Module) else []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "diverged" warning: refused before any step
        with pytest.raises(error, match=match):
            _fit(model, d, **kwargs)
    if before:
        assert all(torch.equal(p, q) for p, q in zip(before, model.parameters()))  # nothing trained


def test_divergence_keeps_the_epoch_it_happened_in_marked():
    d = _separable()
    with pytest.warns(RuntimeWarning, match="diverged during epoch 1"):
        h = train.fit(models.mlp(5, num_classes=2, init_std=1.0), d, epochs=50, lr=1e6, batch_size=10,
                      progress=False, device="cpu", epoch_metrics={"one": lambda m: 1.0})
    assert h.diverged and h.diverged_epoch == 1 == h.epochs == len(h.test_loss) == len(h.steps)
    assert not math.isfinite(h.train_loss[-1])  # the loss as evaluated: NaN or inf
    assert math.isnan(h.train_acc[-1]) and math.isnan(h.test_acc[-1]) and math.isnan(h.gap)
    assert h.metrics["one"] == [math.nan] or math.isnan(h.metrics["one"][-1])  # not measured on it
    from helpers import plots
    with pytest.raises(ValueError, match="training diverged in epoch 1"):  # was an IndexError
        plots.gap_figure(h, "diverged in epoch 1")
    back = train.History.from_dict(json.loads(json.dumps(h.to_dict(), allow_nan=False)))
    assert back.diverged_epoch == 1 and math.isnan(back.test_acc[-1])  # standard JSON round trip


def test_a_diverged_run_is_never_drawn_or_quoted():
    from helpers import plots, report
    import matplotlib.pyplot as plt
    h = train.History(train_loss=[0.7, 0.5, math.inf], train_acc=[0.6, 0.7, math.nan],
                      test_loss=[0.7, 0.6, math.nan], test_acc=[0.55, 0.6, math.nan], steps=[5, 10, 15],
                      stop_reason="diverged", diverged_epoch=3)
    with pytest.raises(ValueError, match="training diverged in epoch 3"):
        plots.gap_figure(h, "lr 1e4")
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="refusing to show lr 1e4: training diverged in epoch 3"):
        plots.plot_accuracy(ax, h, label="lr 1e4")
    plt.close(fig)
    with pytest.raises(ValueError, match="a run that diverged"):
        report.fmt_pct(h.test_acc[-1])
    old = train.History(train_loss=[0.7], train_acc=[0.6], test_loss=[0.7], test_acc=[0.5],
                        steps=[5], stop_reason="diverged")  # as cached before the epoch was kept
    with pytest.raises(ValueError, match="training diverged"):
        plots.gap_figure(old, "old entry")
    with pytest.raises(ValueError, match="its history has no epoch"):
        plots.gap_figure(train.History(), "nothing")


@pytest.mark.parametrize("builder,shape", [(models.mlp, (40,)), (models.cnn1d, (40,)),
                                           (models.convnet, (3, 32, 32)), (models.liao_cnn, (3, 32, 32))])
@pytest.mark.parametrize("num_classes", [0, -1, 2.0, True])
def test_builders_refuse_a_model_without_outputs(builder, shape, num_classes):
    with pytest.raises(ValueError, match=rf"^num_classes must be a positive integer .*got {num_classes!r}$"):
        builder(shape, num_classes=num_classes)
