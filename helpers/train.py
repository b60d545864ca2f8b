"""One training loop for every chapter: ``fit`` a classifier and return its per-epoch ``History``."""
from __future__ import annotations

import functools
import importlib
import math
import time
import warnings
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from .data import Dataset, load_dataset, randomize, random_crop
from .models import build, num_parameters

STOP_REASONS = ("target_acc", "target_loss", "max_epochs", "diverged")


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The given device, else the best available: cuda, then mps, then cpu."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass
class History:
    """What ``fit`` measured: one entry per epoch (after that epoch), plus how training ended."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)  # SGD steps taken by the end of each epoch
    stop_reason: str = "max_epochs"
    seconds: float = 0.0  # wall time of the whole fit, evaluation included
    metrics: dict[str, list[float]] = field(default_factory=dict)  # fit's epoch_metrics, per epoch

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    @property
    def diverged(self) -> bool:
        return self.stop_reason == "diverged"

    @property
    def gap(self) -> float:
        """Generalization gap at the end: train accuracy minus test accuracy."""
        return self.train_acc[-1] - self.test_acc[-1]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**d)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on (x, y), in eval mode; the mode is restored."""
    was_training, device = model.training, next(model.parameters()).device
    model.eval()
    loss_sum, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        logits = model(x[i:i + batch_size].to(device))
        yb = y[i:i + batch_size].to(device)
        loss_sum += F.cross_entropy(logits, yb, reduction="sum").item()
        correct += (logits.argmax(1) == yb).sum().item()
    model.train(was_training)
    return loss_sum / len(x), correct / len(x)


def _check_fit_args(model, data, epochs, lr, batch_size, target_train_acc, target_train_loss):
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be a helpers.data.Dataset, got {type(data).__name__}")
    if hasattr(model, "check_input"):
        model.check_input(data.x_train, "data.x_train")
    if not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if target_train_acc is not None and not 0.0 < target_train_acc <= 1.0:
        raise ValueError(f"target_train_acc must lie in (0, 1] or be None, got {target_train_acc!r}")
    if target_train_loss is not None and not target_train_loss > 0:
        raise ValueError(f"target_train_loss must be positive or None, got {target_train_loss!r}")


def _train_one_epoch(model, opt, x, y, g, batch_size, augment, loss_fn) -> tuple[int, bool]:
    """One pass over (x, y) in shuffled mini-batches; returns (steps taken, every loss finite)."""
    model.train()
    all_finite, steps = torch.ones((), dtype=torch.bool, device=x.device), 0
    for idx in torch.randperm(len(x), generator=g).split(batch_size):
        idx = idx.to(x.device)
        xb = augment(x[idx], generator=g) if augment is not None else x[idx]
        loss = F.cross_entropy(model(xb), y[idx]) if loss_fn is None else loss_fn(model, xb, y[idx], generator=g)
        all_finite &= torch.isfinite(loss.detach())  # read once per epoch: no GPU sync per step
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        steps += 1
    return steps, bool(all_finite)


def _stop_reason(h: History, target_train_acc, target_train_loss) -> str | None:
    if not math.isfinite(h.train_loss[-1]):
        return "diverged"
    if target_train_acc is not None and h.train_acc[-1] >= target_train_acc:
        return "target_acc"
    if target_train_loss is not None and h.train_loss[-1] <= target_train_loss:
        return "target_loss"
    return None


def fit(model: nn.Module, data: Dataset, *, epochs: int = 100, lr: float = 0.01, batch_size: int = 128,
        momentum: float = 0.9, weight_decay: float = 0.0, optimizer: str = "sgd",
        target_train_acc: float | None = None, target_train_loss: float | None = None,
        augment=None, loss_fn=None, epoch_metrics: dict | None = None, seed: int = 0, device=None,
        progress: bool = True, desc: str = "fit") -> History:
    """Train ``model`` in place with mini-batch SGD (or Adam) on cross-entropy.

    After every epoch the whole train and test sets are evaluated in eval mode. Training stops
    after ``epochs`` epochs, or as soon as the train accuracy reaches ``target_train_acc`` or the
    train loss falls to ``target_train_loss``, or when the loss becomes NaN/inf (``stop_reason``
    'diverged', with a warning). ``augment(x, generator=g)`` transforms each training batch.
    ``loss_fn(model, xb, yb, generator=g)`` replaces the cross-entropy of a batch (Ch. 4 adds a
    distractor term this way); the evaluation after each epoch is always plain cross-entropy.
    ``epoch_metrics`` maps names to functions ``model -> float``, recorded after every epoch in
    ``history.metrics[name]`` (Ch. 2 tracks the normalized loss this way).
    """
    _check_fit_args(model, data, epochs, lr, batch_size, target_train_acc, target_train_loss)
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    device = pick_device(device)
    model.to(device)
    x, y = data.x_train.to(device), data.y_train.to(device)  # keep the data on the device
    opt = (torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
           if optimizer == "sgd" else torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay))
    g = torch.Generator().manual_seed(seed)  # batch order and augmentation: the seed fixes both
    history, steps, start = History(), 0, time.perf_counter()
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        new_steps, finite = _train_one_epoch(model, opt, x, y, g, batch_size, augment, loss_fn)
        steps += new_steps
        if finite:
            for split, xs, ys in (("train", x, y), ("test", data.x_test, data.y_test)):
                loss_value, acc = evaluate(model, xs, ys)
                getattr(history, f"{split}_loss").append(loss_value)
                getattr(history, f"{split}_acc").append(acc)
            history.steps.append(steps)
            for name, measure in (epoch_metrics or {}).items():
                history.metrics.setdefault(name, []).append(float(measure(model)))
            bar.set_postfix(train_acc=f"{history.train_acc[-1]:.3f}", test_acc=f"{history.test_acc[-1]:.3f}")
        reason = "diverged" if not finite else _stop_reason(history, target_train_acc, target_train_loss)
        if reason == "diverged":
            warnings.warn(f"{desc}: training diverged during epoch {epoch + 1} (the loss became NaN or "
                          f"inf); try a smaller lr (now {lr}) or init_std", RuntimeWarning)
        if reason is not None:
            history.stop_reason = reason
            break
    bar.close()
    history.seconds = time.perf_counter() - start
    return history


@functools.lru_cache(maxsize=8)
def _cached_dataset(name: str, n_train, n_test, seed: int) -> Dataset:
    return load_dataset(name, n_train=n_train, n_test=n_test, seed=seed)


# Measures that train_run can record after every epoch, on the train and the test set:
# name -> "module:function" with the signature f(model, X, y) -> float.
TRACKABLE = {"normalized_cross_entropy": "helpers.metrics.normalized:normalized_cross_entropy"}


def _tracked(names, data: Dataset) -> dict:
    unknown = set(names) - set(TRACKABLE)
    if unknown:
        raise ValueError(f"track must name measures from {sorted(TRACKABLE)}, got {sorted(unknown)}")
    functions = {}
    for name in names:
        module, attr = TRACKABLE[name].split(":")
        measure = getattr(importlib.import_module(module), attr)
        for split, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
            functions[f"{name}/{split}"] = functools.partial(measure, X=x, y=y)
    return functions


def train_run(*, dataset: str, n_train: int | None, n_test: int | None, architecture: str,
              model_kwargs: dict, lr: float, batch_size: int, max_epochs: int,
              randomization: str = "true labels", p: float = 1.0, init_std: float | None = None,
              weight_decay: float = 0.0, dropout: float = 0.0, augment: bool = False,
              target_train_acc: float | None = 1.0, target_train_loss: float | None = None,
              pretrain: dict | None = None, track: tuple | list = (), seed: int = 0,
              data_seed: int = 42, progress: bool = False) -> dict:
    """Build the data, the randomization, the model, then ``fit``: one point of a sweep.

    ``pretrain`` (Liao et al.'s protocol) first fits the same model on randomized labels, e.g.
    ``{"p": 0.5, "max_epochs": 50}`` (keys: randomization, p, max_epochs, target_train_acc).
    ``track`` names measures from ``TRACKABLE`` to record after every epoch.
    Returns a JSON-serializable dict (``history``, ``num_parameters``, and ``pretrain_history``
    when pretraining) for ``helpers.sweep``. ``seed`` fixes init, batch order and randomization.
    """
    return _train_model(**locals())[1]  # locals() here is exactly the keyword arguments


def _train_model(*, dataset, n_train, n_test, architecture, model_kwargs, lr, batch_size, max_epochs,
                 randomization="true labels", p=1.0, init_std=None, weight_decay=0.0, dropout=0.0,
                 augment=False, target_train_acc=1.0, target_train_loss=None, pretrain=None, track=(),
                 seed=0, data_seed=42, progress=False) -> tuple[nn.Module, dict]:
    """``train_run``'s work, also handing back the trained model (for measures taken after training)."""
    clean = _cached_dataset(dataset, n_train, n_test, data_seed)
    data = randomize(clean, randomization, p=p, seed=seed)
    kwargs = dict(model_kwargs, **({"dropout": dropout} if dropout else {}))
    model = build(architecture, data.input_shape, data.num_classes, seed=seed, init_std=init_std, **kwargs)
    common = dict(lr=lr, batch_size=batch_size, weight_decay=weight_decay, seed=seed, progress=progress,
                  augment=random_crop if augment else None)
    result = {}
    if pretrain:
        pre = dict({"randomization": "random labels", "p": 1.0, "target_train_acc": 1.0}, **pretrain)
        noisy = randomize(clean, pre["randomization"], p=pre["p"], seed=seed + 1)
        result["pretrain_history"] = fit(model, noisy, epochs=pre["max_epochs"], target_train_acc=pre["target_train_acc"],
                                         desc=f"pretrain p={pre['p']}", **common).to_dict()
    history = fit(model, data, epochs=max_epochs, target_train_acc=target_train_acc, target_train_loss=target_train_loss,
                  epoch_metrics=_tracked(track, data), desc=f"{architecture} {randomization} p={p}", **common)
    return model, dict(result, history=history.to_dict(), num_parameters=num_parameters(model))


def train_run_esd(*, dataset: str, n_train: int | None, n_test: int | None, architecture: str,
                  model_kwargs: dict, lr: float, batch_size: int, max_epochs: int, p: float = 0.0,
                  weight_decay: float = 0.0, min_evals: int = 50, seed: int = 0, data_seed: int = 42,
                  progress: bool = False) -> dict:
    """One model of Chapter 5's zoo: train it, then analyze the spectra of its trained weights.

    Training as in ``train_run`` (SGD with momentum for ``max_epochs`` epochs, no early stop;
    a fraction ``p`` of the training labels redrawn at random). The ESD analysis
    (``helpers.metrics.esd``) uses the weights only. Returns a JSON-serializable dict:
    ``history``, ``num_parameters``, ``esd`` (one record per analyzed layer), ``esd_summary``
    (alpha-hat and the other model-level means) and ``eigenvalues`` (each analyzed layer's ESD);
    the last three are empty if training diverged.
    """
    from .metrics import esd

    model, result = _train_model(
        dataset=dataset, n_train=n_train, n_test=n_test, architecture=architecture, model_kwargs=model_kwargs,
        lr=lr, batch_size=batch_size, max_epochs=max_epochs, p=p, weight_decay=weight_decay,
        randomization="random labels" if p > 0 else "true labels", target_train_acc=None, seed=seed,
        data_seed=data_seed, progress=progress)
    result.update(esd=[], esd_summary={}, eigenvalues={})
    if result["history"]["stop_reason"] != "diverged":
        layers = esd.analyze(model, min_evals=min_evals)
        result.update(esd=layers.to_dict("records"), esd_summary=esd.summary(layers),
                      eigenvalues={k: v.tolist() for k, v in esd.layer_eigenvalues(model, min_evals).items()})
    return result
