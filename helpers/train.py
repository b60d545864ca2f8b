"""One training loop and one run layer for every chapter.

``fit`` trains a classifier in place and returns its per-epoch ``History``. ``RunSpec`` is a
frozen, JSON-serializable description of one whole run (data, randomization, model, optimizer,
stopping rule, seed); ``run(spec)`` builds and trains it and returns a ``Run`` (model, data,
history); ``run_record(spec)`` returns only the JSON part, for sweeps.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import json
import math
import numbers
import time
import warnings
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from . import settings
from .data import KINDS, Dataset, load_dataset, randomize, random_crop
from .models import ARCHITECTURES, build, num_parameters
from .safety import batched_loss_and_accuracy, check_model, check_xy, eval_mode, model_device

STOP_REASONS = ("target_acc", "target_loss", "max_epochs", "diverged")
PRECISIONS = ("auto", "fp32", "bf16")  # fit's precision: the training step's forward and backward


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
    """What ``fit`` measured: one entry per epoch (after that epoch), plus how training ended.

    A run that diverged keeps the epoch in which it did, as its last entry, marked by
    ``diverged_epoch`` (1-based): its losses as evaluated (NaN or inf) and NaN accuracies and
    metrics, since a model whose weights blew up has no accuracy worth quoting. The plotting
    and reporting helpers refuse such a history, so it is never drawn or quoted as a result.
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)  # SGD steps taken by the end of each epoch
    stop_reason: str = "max_epochs"
    seconds: float = 0.0  # wall time of the whole fit, evaluation included
    metrics: dict[str, list[float]] = field(default_factory=dict)  # fit's epoch_metrics, per epoch
    per_example: dict[str, list] = field(default_factory=dict)  # one value per training example
    diverged_epoch: int | None = None  # the epoch (1-based, the last entry) in which training diverged

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    @property
    def diverged(self) -> bool:
        return self.stop_reason == "diverged"

    @property
    def gap(self) -> float:
        """Generalization gap at the end: train accuracy minus test accuracy (NaN if it diverged)."""
        if not self.train_acc:
            raise ValueError("the history has no epoch, so it has no gap")
        return self.train_acc[-1] - self.test_acc[-1]

    def check_not_diverged(self, what: str = "this run") -> None:
        """ValueError saying so if the run diverged: its numbers are not a result."""
        if self.diverged:
            at = f" in epoch {self.diverged_epoch}" if self.diverged_epoch else ""
            raise ValueError(f"refusing to show {what}: training diverged{at} (the loss became NaN "
                             f"or inf), so its curves and accuracies are not a result; rerun it "
                             f"with a smaller lr or init_std")

    def to_dict(self) -> dict:
        """Plain, standard JSON: the NaN or inf of a diverged epoch as the strings 'nan', 'inf'."""
        d = asdict(self)
        for key in _CURVES:
            d[key] = [_encode_float(v) for v in d[key]]
        d["metrics"] = {k: [_encode_float(v) for v in vs] for k, vs in d["metrics"].items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        d = dict(d)
        for key in _CURVES:
            if key in d:
                d[key] = [_decode_float(v) for v in d[key]]
        if "metrics" in d:
            d["metrics"] = {k: [_decode_float(v) for v in vs] for k, vs in d["metrics"].items()}
        return cls(**d)


_CURVES = ("train_loss", "train_acc", "test_loss", "test_acc")
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _encode_float(v):
    return str(v) if isinstance(v, float) and not math.isfinite(v) else v


def _decode_float(v):
    return _NON_FINITE[v] if isinstance(v, str) and v in _NON_FINITE else v


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096,
             keep_outputs: list | None = None) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on (x, y), in eval mode; every mode is restored.

    With ``keep_outputs`` (a list), each batch's (logits, labels) is appended to it."""
    return batched_loss_and_accuracy(model, x, y, batch_size=batch_size, keep_outputs=keep_outputs)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_fit_args(model, data, epochs, lr, batch_size, target_train_acc, target_train_loss):
    """Every argument of ``fit`` that can be checked before training, with errors that name it."""
    check_model(model)
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be a helpers.data.Dataset, got {type(data).__name__}")
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"model has no trainable parameters ({type(model).__name__}): "
                         "there is nothing for fit to train")
    for split in ("train", "test"):
        try:
            check_xy(getattr(data, f"x_{split}"), getattr(data, f"y_{split}"), name=f"x_{split}")
        except (TypeError, ValueError) as err:
            raise type(err)(f"data.{err}") from None
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        if not x.is_floating_point():
            raise TypeError(f"data.x_{split} must be a floating-point tensor (float32), got "
                            f"{x.dtype}: convert it with .float()")
        if y.dtype != torch.int64 or y.ndim != 1:
            raise TypeError(f"data.y_{split} must be a 1-D tensor of integer class labels "
                            f"(torch.int64), got {y.dtype} of shape {tuple(y.shape)}")
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= data.num_classes:
            raise ValueError(f"data.y_{split} holds labels from {low} to {high}, but data.num_classes "
                             f"is {data.num_classes}: labels must lie in [0, {data.num_classes - 1}]")
    if hasattr(model, "check_input"):
        model.check_input(data.x_train, "data.x_train")
    if isinstance(epochs, bool) or not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not _is_number(lr):
        raise TypeError(f"lr must be a positive finite number, got {lr!r} of type {type(lr).__name__}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if isinstance(batch_size, bool) or not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if target_train_acc is not None and not (_is_number(target_train_acc) and 0.0 < target_train_acc <= 1.0):
        raise ValueError(f"target_train_acc must lie in (0, 1] or be None, got {target_train_acc!r}")
    if target_train_loss is not None and not (_is_number(target_train_loss) and target_train_loss > 0):
        raise ValueError(f"target_train_loss must be positive or None, got {target_train_loss!r}")


def _check_outputs(model, data: Dataset, device) -> None:
    """One forward pass on two training samples, in eval mode (no state changes): the model
    must take data.x_train's samples and give one score per class for every label."""
    xb = data.x_train[:2].to(device)
    try:
        with torch.no_grad(), eval_mode(model):
            out = model(xb)
    except (RuntimeError, ValueError, TypeError) as err:
        raise ValueError(f"model cannot take data.x_train's samples of shape {tuple(data.x_train.shape[1:])} "
                         f"({type(err).__name__}: {err}); build it for data.input_shape") from err
    classes = max(int(data.y_train.max()), int(data.y_test.max())) + 1
    if not (isinstance(out, torch.Tensor) and out.ndim == 2 and out.shape[1] >= max(classes, 2)):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"model must give (batch, classes) scores with at least {max(classes, 2)} "
                         f"classes for data's labels, got outputs of shape {shape}; build it with "
                         f"num_classes=data.num_classes ({data.num_classes})")


def _train_one_epoch(model, opt, x, y, g, batch_size, augment, loss_fn, stop_inside=None,
                     forward=None) -> tuple[int, bool]:
    """One pass over (x, y) in shuffled mini-batches; returns (steps taken, every loss finite).

    ``stop_inside(steps)``, if given, is asked after every step whether to end the epoch early.
    ``forward`` (default: ``model``) computes the batch's scores: ``_TrainingForward`` when the
    step runs under autocast, in channels_last or compiled. The batch order is drawn on the CPU
    with ``g`` (the same order on every device) and moved to the data's device once per epoch.
    """
    model.train()
    forward = model if forward is None else forward
    all_finite, steps = torch.ones((), dtype=torch.bool, device=x.device), 0
    order = torch.randperm(len(x), generator=g).to(x.device)  # one host-to-device copy per epoch
    for idx in order.split(batch_size):
        xb = augment(x[idx], generator=g) if augment is not None else x[idx]
        loss = (F.cross_entropy(forward(xb), y[idx]) if loss_fn is None
                else loss_fn(forward, xb, y[idx], generator=g))
        all_finite &= torch.isfinite(loss.detach())  # read once per epoch: no GPU sync per step
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        steps += 1
        if stop_inside is not None and stop_inside(steps):
            break
    return steps, bool(all_finite)


class _TrainingForward(nn.Module):
    """The training step's forward pass as ``fit`` runs it on a GPU.

    ``module`` (the model, or ``torch.compile`` of it) runs under ``torch.autocast`` with
    ``amp_dtype`` (None: no autocast), on inputs in ``memory_format`` (None: as given), and its
    scores come back in float32, so that the loss and its reduction are float32 whatever the
    autocast did (the backward pass then follows each op's own dtype, as autocast means it to).
    """

    def __init__(self, model: nn.Module, module, amp_dtype, memory_format, device_type: str):
        super().__init__()
        self.model = model  # the trained model itself: loss_fn may look at it
        self._module, self.amp_dtype = module, amp_dtype
        self.memory_format, self.device_type = memory_format, device_type

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.memory_format is not None and x.ndim == 4:
            x = x.contiguous(memory_format=self.memory_format)
        if self.amp_dtype is None:
            return self._module(x)
        with torch.autocast(device_type=self.device_type, dtype=self.amp_dtype):
            out = self._module(x)
        return out.float()


def _cuda_supports_bf16(device: torch.device) -> bool:
    """Whether a CUDA device computes in bfloat16 natively (compute capability 8.0 and up: A100,
    H100, L4); a T4 has no bf16 tensor cores, and torch would only emulate it there."""
    try:
        with torch.cuda.device(device):
            return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # an older torch without the argument
        return torch.cuda.get_device_capability(device) >= (8, 0)


def _amp_dtype(precision: str, device: torch.device):
    """The autocast dtype of the training step: bf16 for 'bf16', and for 'auto' on a CUDA device
    that supports it; None (float32, no autocast) for 'fp32' and for 'auto' anywhere else."""
    if precision == "fp32":
        return None
    native = device.type == "cuda" and _cuda_supports_bf16(device)
    if precision == "auto":
        return torch.bfloat16 if native else None
    if device.type == "cuda" and not native:
        raise ValueError(f"precision='bf16' needs a device that computes in bfloat16; {device} does not "
                         f"(compute capability below 8.0): use precision='auto' or 'fp32'")
    return torch.bfloat16


def _use_channels_last(channels_last, data: Dataset, device: torch.device) -> bool:
    """channels_last None: on for image inputs (n, c, h, w) on a CUDA device, off elsewhere."""
    if channels_last is None:
        return device.type == "cuda" and data.x_train.ndim == 4
    if channels_last and data.x_train.ndim != 4:
        raise ValueError(f"channels_last=True needs image inputs shaped (n, c, h, w), but data.x_train "
                         f"has shape {tuple(data.x_train.shape)}: pass channels_last=None or False")
    return channels_last


def _check_run_options(precision, channels_last, compile) -> None:
    if not (isinstance(precision, str) and precision in PRECISIONS):
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if channels_last is not None and not isinstance(channels_last, bool):
        raise ValueError(f"channels_last must be True, False or None (on for images on CUDA), "
                         f"got {channels_last!r}")
    if not isinstance(compile, bool):
        raise ValueError(f"compile must be True or False, got {compile!r}")


def _stop_reason(h: History, stop: "StopRule") -> str | None:
    if not math.isfinite(h.train_loss[-1]):
        return "diverged"
    return stop.met(h.train_loss[-1], h.train_acc[-1])


def fit(model: nn.Module, data: Dataset, *, epochs: int = 100, lr: float = 0.01, batch_size: int = 128,
        momentum: float = 0.9, weight_decay: float = 0.0, optimizer: str = "sgd",
        target_train_acc: float | None = None, target_train_loss: float | None = None,
        augment=None, loss_fn=None, epoch_metrics: dict | None = None, seed: int = 0, device=None,
        progress: bool = True, desc: str = "fit", check_every: int | None = None,
        precision: str = "auto", channels_last: bool | None = None, compile: bool = False) -> History:
    """Train ``model`` in place with mini-batch SGD (or Adam) on cross-entropy.

    After every epoch the whole train and test sets are evaluated in eval mode. Training stops
    after ``epochs`` epochs, or as soon as the train accuracy reaches ``target_train_acc`` or the
    train loss falls to ``target_train_loss``, or when the loss becomes NaN/inf (``stop_reason``
    'diverged', with a warning). ``augment(x, generator=g)`` transforms each training batch.
    ``loss_fn(model, xb, yb, generator=g)`` replaces the cross-entropy of a batch (Ch. 4 adds a
    distractor term this way); the evaluation after each epoch is always plain cross-entropy.
    ``epoch_metrics`` maps names to functions ``model -> float``, recorded after every epoch in
    ``history.metrics[name]`` (Ch. 2 tracks the normalized loss this way).

    The targets are checked after every epoch; with ``check_every`` = k they are also checked
    (on the whole train set, in eval mode) every k steps inside an epoch, once the last epoch
    ended within ``StopRule.NEAR`` (2x) of a loss target, and the epoch ends as soon as one is met, so runs stopped by a target end at nearly the same train loss instead
    of anywhere within one epoch's drop (Ch. 2 compares runs at equal train loss). The last
    history entry is then a partial epoch; ``history.steps`` says where it ended.

    How the GPU is used (none of it changes a CPU run: there it is bit-identical to plain fp32):
    the train and test sets are moved to the device once, and each epoch's batch order once.
    ``precision`` 'auto' trains in bf16 autocast (``torch.autocast(device, torch.bfloat16)``) on
    a CUDA device that computes in bf16 (A100, H100, L4), in float32 elsewhere (a T4, the CPU,
    mps); 'bf16' forces autocast (on the CPU too), 'fp32' forbids it. Autocast covers only the
    training step's forward pass (and so its backward): the scores are cast back to float32
    before the loss, and the evaluation after every epoch, the stopping rule and every metric
    run in float32. ``channels_last`` None puts image models (4-D inputs) in channels_last
    memory format on CUDA only; True forces it (on the CPU too), False forbids it; the model
    leaves ``fit`` contiguous again. ``compile`` True trains through ``torch.compile(model)``:
    it pays only where compilation (tens of seconds to minutes, again for every fit) is repaid
    by many long epochs: large conv nets on a GPU. Off by default.
    """
    _check_fit_args(model, data, epochs, lr, batch_size, target_train_acc, target_train_loss)
    _check_run_options(precision, channels_last, compile)
    if check_every is not None and not (isinstance(check_every, int) and check_every >= 1):
        raise ValueError(f"check_every must be a positive integer or None, got {check_every!r}")
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    device = pick_device(device)
    amp_dtype = _amp_dtype(precision, device)
    memory_format = torch.channels_last if _use_channels_last(channels_last, data, device) else None
    model.to(device)
    _check_outputs(model, data, device)
    # keep the data on the device: the train set for the steps, both sets for the evaluations
    x, y = data.x_train.to(device), data.y_train.to(device)
    x_test, y_test = data.x_test.to(device), data.y_test.to(device)
    if memory_format is not None:
        model.to(memory_format=memory_format)
        x, x_test = x.contiguous(memory_format=memory_format), x_test.contiguous(memory_format=memory_format)
    forward = None  # the model itself: the plain fp32 step, unchanged
    if amp_dtype is not None or memory_format is not None or compile:
        forward = _TrainingForward(model, torch.compile(model) if compile else model, amp_dtype,
                                   memory_format, device.type)
    opt = (torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
           if optimizer == "sgd" else torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay))
    g = torch.Generator().manual_seed(seed)  # batch order and augmentation: the seed fixes both
    try:
        with run_random_state(seed, device):  # dropout masks: torch's global generator, seeded here
            stop = StopRule(target_train_acc, target_train_loss, check_every)
            return _fit_epochs(model, opt, x, y, x_test, y_test, g, epochs=epochs, lr=lr,
                               batch_size=batch_size, stop=stop, augment=augment, loss_fn=loss_fn,
                               epoch_metrics=epoch_metrics, progress=progress, desc=desc,
                               forward=forward)
    finally:
        if memory_format is not None:  # metrics flatten weights with .view: give them contiguous ones
            model.to(memory_format=torch.contiguous_format)


@dataclass(frozen=True)
class StopRule:
    """When ``fit`` stops: a train accuracy to reach, a train loss to fall to, how often to look."""

    target_train_acc: float | None = None
    target_train_loss: float | None = None
    check_every: int | None = None  # steps between checks inside an epoch (None: end of epoch only)
    NEAR = 2.0  # checks inside an epoch start once the loss is within this factor of its target

    def met(self, loss: float, acc: float) -> str | None:
        """The target reached by a train loss and accuracy, or None."""
        if self.target_train_acc is not None and acc >= self.target_train_acc:
            return "target_acc"
        if self.target_train_loss is not None and loss <= self.target_train_loss:
            return "target_loss"
        return None

    def inside_epoch(self, model, x, y, history: History):
        """The check ``_train_one_epoch`` makes every ``check_every`` steps of the next epoch, or None.

        A check evaluates the whole train set, so checks inside an epoch start only once the
        train loss at the end of an epoch is within a factor NEAR of its target (from the first
        epoch for an accuracy target): a run whose loss falls by less than NEAR per epoch still
        stops at the first check below the target, at the price of checks in its last epochs only.
        """
        if self.check_every is None or (self.target_train_acc is None and self.target_train_loss is None):
            return None
        if self.target_train_loss is not None and not (
                history.train_loss and history.train_loss[-1] <= self.NEAR * self.target_train_loss):
            return None
        return lambda steps: steps % self.check_every == 0 and self.met(*evaluate(model, x, y)) is not None


@contextlib.contextmanager
def run_random_state(seed: int, device: torch.device):
    """Fork torch's global generators (CPU and ``device``), seed them from ``seed``, restore after.

    ``nn.Dropout`` (and anything else that does not take a generator) draws from torch's global
    generator, which this torch build seeds at random in every process. Inside this block it
    is the run's own stream: the same seed gives the same masks in any process, twice in one
    process, and the caller's random state is left as it was.
    """
    device = torch.device(device)
    accelerator = device.type if device.type != "cpu" else None
    index = device.index
    if accelerator == "cuda" and index is None:  # "cuda" means the current device
        index = torch.cuda.current_device()
    devices = [index or 0] if accelerator else []
    stream = (int(seed) * 2_654_435_761 + 97) % 2 ** 63  # not the batch order's seed: another stream
    with torch.random.fork_rng(devices=devices, device_type=accelerator or "cuda"):
        # seed only the generators that were forked, so none is left changed afterwards
        torch.default_generator.manual_seed(stream)
        if accelerator == "cuda":
            with torch.cuda.device(index):
                torch.cuda.manual_seed(stream)
        elif accelerator == "mps":
            torch.mps.manual_seed(stream)
        yield


def _fit_epochs(model, opt, x, y, x_test, y_test, g, *, epochs, lr, batch_size, stop, augment,
                loss_fn, epoch_metrics, progress, desc, forward=None) -> History:
    history, steps, start = History(), 0, time.perf_counter()
    # the splits whose logits a tracked measure reads (_OfOutputs), instead of its own forward pass
    keep_splits = {m.split for m in (epoch_metrics or {}).values() if isinstance(m, _OfOutputs)}
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        stop_inside = stop.inside_epoch(model, x, y, history)
        new_steps, finite = _train_one_epoch(model, opt, x, y, g, batch_size, augment, loss_fn,
                                             stop_inside, forward)
        steps += new_steps
        outputs = {split: [] for split in keep_splits}
        for split, xs, ys in (("train", x, y), ("test", x_test, y_test)):  # float32, on the device
            loss_value, acc = evaluate(model, xs, ys, keep_outputs=outputs.get(split))
            getattr(history, f"{split}_loss").append(loss_value)
            getattr(history, f"{split}_acc").append(acc)
        history.steps.append(steps)
        reason = "diverged" if not finite else _stop_reason(history, stop)
        if reason == "diverged":
            _mark_diverged(history, epoch + 1, epoch_metrics)
            warnings.warn(f"{desc}: training diverged during epoch {epoch + 1} (the loss became NaN or "
                          f"inf); try a smaller lr (now {lr}) or init_std", RuntimeWarning)
        else:
            for name, measure in (epoch_metrics or {}).items():
                value = (measure.of_outputs(model, outputs[measure.split])
                         if isinstance(measure, _OfOutputs) else measure(model))
                history.metrics.setdefault(name, []).append(float(value))
            bar.set_postfix(train_acc=f"{history.train_acc[-1]:.3f}", test_acc=f"{history.test_acc[-1]:.3f}")
        if reason is not None:
            history.stop_reason = reason
            break
    bar.close()
    history.seconds = time.perf_counter() - start
    return history


def _mark_diverged(history: History, epoch: int, epoch_metrics) -> None:
    """The last entry is the epoch that diverged: NaN accuracies and metrics (argmax of NaN
    logits gives about chance, a number that must not pass for a result)."""
    history.train_acc[-1] = history.test_acc[-1] = math.nan
    for name in epoch_metrics or {}:
        history.metrics.setdefault(name, []).append(math.nan)
    history.diverged_epoch = epoch


@dataclass(frozen=True)
class _OfOutputs:
    """A tracked data measure that ``fit`` computes from the logits of its own end-of-epoch
    evaluation of ``split`` (``of_outputs(model, outputs)``), which saves a forward pass over the
    split every epoch; the same batches give the same number. Called with a model alone, it
    measures from scratch, as the plain measure does."""

    measure: functools.partial  # f(model, X=..., y=...)
    of_outputs: object          # f(model, [(logits, labels), ...]) -> float
    split: str

    def __call__(self, model: nn.Module) -> float:
        return self.measure(model)


# Measures a run can record after every epoch (``RunSpec.track``): name -> "module:function".
# A data measure f(model, X, y) -> float is recorded on the train and the test set, as
# "name/train" and "name/test"; a weights measure f(model) -> float once, as "name".
TRACKABLE = {"normalized_cross_entropy": "helpers.metrics.normalized:normalized_cross_entropy"}
# ... of which these have a version that takes the logits of fit's evaluation (same batches)
TRACKABLE_OF_OUTPUTS = {"normalized_cross_entropy": "helpers.metrics.normalized:normalized_cross_entropy_of_outputs"}
TRACKABLE_WEIGHTS = {"normalized_lipschitz_bound": "helpers.metrics.normalized:normalized_lipschitz_bound"}
# ... and a per-example record: ``history.per_example[name]``, with the fraction of examples
# it covers after every epoch in ``history.metrics[name + "/fraction"]``.
TRACKABLE_EXAMPLES = ("first_correct_epoch",)


class FirstCorrectEpoch:
    """For every training example, the first epoch after which it is classified as labelled.

    0 means never (Arpit et al. 2017 ask which examples a network learns first: patterns
    before noise). Called after every epoch; returns the fraction of examples learned so far.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y
        self.first = torch.zeros(len(y), dtype=torch.long)
        self.epoch = 0

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> float:
        self.epoch += 1
        device = model_device(model)
        with eval_mode(model):
            predicted = torch.cat([model(xb.to(device)).argmax(1).cpu() for xb in self.x.split(4096)])
        new = (self.first == 0) & (predicted == self.y.cpu())
        self.first[new] = self.epoch
        return float((self.first > 0).double().mean())


def _resolve(path: str):
    """The function named by "module:function"."""
    module, attr = path.split(":")
    return getattr(importlib.import_module(module), attr)


def _tracked(names, data: Dataset, device=None) -> tuple[dict, dict]:
    """The epoch functions of ``names`` for ``fit``, and the per-example trackers among them.

    Their data is moved to ``device`` (the model's, during the fit) once, not at every epoch.
    """
    device = torch.device("cpu") if device is None else torch.device(device)
    known = {**TRACKABLE, **TRACKABLE_WEIGHTS, **dict.fromkeys(TRACKABLE_EXAMPLES)}
    unknown = set(names) - set(known)
    if unknown:
        raise ValueError(f"track must name measures from {sorted(known)}, got {sorted(unknown)}")
    functions, trackers = {}, {}
    for name in names:
        if name in TRACKABLE_EXAMPLES:
            trackers[name] = functions[f"{name}/fraction"] = FirstCorrectEpoch(data.x_train.to(device), data.y_train)
            continue
        measure = _resolve(known[name])
        if name in TRACKABLE_WEIGHTS:
            functions[name] = measure
            continue
        of_outputs = _resolve(TRACKABLE_OF_OUTPUTS[name]) if name in TRACKABLE_OF_OUTPUTS else None
        for split, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
            measure_split = functools.partial(measure, X=x.to(device), y=y.to(device))
            functions[f"{name}/{split}"] = (measure_split if of_outputs is None
                                            else _OfOutputs(measure_split, of_outputs, split))
    return functions, trackers


# --- the run layer: one spec of a training run, one function that runs it --------------------

@dataclass(frozen=True, kw_only=True)
class Pretrain:
    """Liao et al.'s protocol: first fit the same model on randomized labels, then on the true ones."""

    max_epochs: int                          # cap on the pretraining
    randomization: str = "random labels"     # helpers.data.KINDS
    p: float = 1.0                           # label corruption of the pretraining
    target_train_acc: float | None = 1.0     # it stops once it has fitted its labels


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """One training run, start to end: data, randomization, model, optimizer, stopping rule, seed.

    The sweep point of every chapter that trains a network. JSON-serializable (``to_dict``,
    ``from_dict``), so the sweep cache keys on it; ``replace(**changes)`` gives a variant.
    ``seed`` fixes the init, the batch order, the dropout masks and the randomization;
    ``data_seed`` fixes which sample of the data set is drawn.
    """

    # data
    dataset: str                             # helpers.data.load_dataset name
    n_train: int | None = None               # training samples (None: the data set's default)
    n_test: int | None = None                # test samples
    data_seed: int = 42                      # which sample of the data set
    randomization: str = "true labels"       # helpers.data.KINDS (Ch. 1)
    p: float = 1.0                           # label corruption, for 'random labels'
    # model
    architecture: str                        # helpers.models.build name
    model_kwargs: dict = field(default_factory=dict)  # its builder's arguments (widths, bias, ...)
    init_std: float | None = None            # Gaussian init std of every layer (None: PyTorch's)
    dropout: float = 0.0                     # dropout on the hidden layers
    # optimizer
    optimizer: str = "sgd"                   # 'sgd' (with momentum) or 'adam'
    lr: float                                # learning rate, constant
    momentum: float = 0.9                    # SGD only
    batch_size: int                          # samples per step
    weight_decay: float = 0.0                # L2 coefficient
    augment: bool = False                    # random crops (images only)
    # stopping rule
    max_epochs: int                          # cap on the epochs
    target_train_acc: float | None = 1.0     # stop once the train accuracy reaches this ...
    target_train_loss: float | None = None   # ... or the train cross-entropy falls to this (nats)
    check_every: int | None = None           # also check the targets every this many steps
    # extras
    pretrain: Pretrain | None = None         # Liao et al.'s pretraining on randomized labels
    track: tuple[str, ...] = ()              # TRACKABLE, TRACKABLE_WEIGHTS or TRACKABLE_EXAMPLES names
    seed: int = 0
    # how the GPU is used (fit's options; in to_dict only when not at their defaults, below)
    precision: str = "auto"                  # 'auto' (bf16 autocast on a bf16 GPU), 'fp32', 'bf16'
    compile: bool = False                    # torch.compile: only where it pays (large conv nets, GPU)

    __hash__ = None  # frozen, but it holds a dict: compare specs, do not hash them

    def __post_init__(self):
        if isinstance(self.pretrain, dict):
            object.__setattr__(self, "pretrain", Pretrain(**self.pretrain))
        if isinstance(self.track, str):
            raise TypeError(f"track must be a tuple of names, got the string {self.track!r}")
        object.__setattr__(self, "track", tuple(self.track))
        # as JSON has it (tuples become lists), so that from_dict(to_dict(spec)) == spec
        object.__setattr__(self, "model_kwargs", json.loads(json.dumps(dict(self.model_kwargs))))
        _check_spec(self)

    def to_dict(self) -> dict:
        """The spec as JSON (tuples become lists, as in the cache): every sweep's cache key.

        The fields of ``_KEYED_WHEN_SET`` appear only when they differ from their defaults, so
        a spec that leaves them alone has the same key as before they existed (caches stay valid).
        """
        d = json.loads(json.dumps(asdict(self)))
        for name, default in _KEYED_WHEN_SET.items():
            if d[name] == default:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunSpec":
        """Inverse of ``to_dict``; a dict without the ``_KEYED_WHEN_SET`` fields gets their defaults."""
        return cls(**d)

    def replace(self, **changes) -> "RunSpec":
        return dataclasses.replace(self, **changes)


# RunSpec fields added after caches existed: keyed only when set to something else than this
_KEYED_WHEN_SET = {"precision": "auto", "compile": False}


def _check_spec(spec: RunSpec) -> None:
    _check_run_options(spec.precision, None, spec.compile)
    if spec.randomization not in KINDS:
        raise ValueError(f"randomization must be one of {KINDS}, got {spec.randomization!r}")
    pre = spec.pretrain
    if pre is not None and not (pre.randomization in KINDS and 0.0 <= pre.p <= 1.0
                                and isinstance(pre.max_epochs, int) and pre.max_epochs >= 1):
        raise ValueError(f"pretrain needs a randomization from {KINDS}, p in [0, 1] and a positive "
                         f"integer max_epochs, got {pre!r}")
    if spec.architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {spec.architecture!r}")
    if not (isinstance(spec.seed, int) and isinstance(spec.data_seed, int)):
        raise ValueError(f"seed and data_seed must be integers, got {spec.seed!r}, {spec.data_seed!r}")
    if not 0.0 <= spec.p <= 1.0:
        raise ValueError(f"p must lie in [0, 1], got {spec.p!r}")
    if not (isinstance(spec.max_epochs, int) and spec.max_epochs >= 1):
        raise ValueError(f"max_epochs must be a positive integer, got {spec.max_epochs!r}")
    if not 0.0 <= spec.dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {spec.dropout!r}")
    known = {**TRACKABLE, **TRACKABLE_WEIGHTS, **dict.fromkeys(TRACKABLE_EXAMPLES)}
    unknown = set(spec.track) - set(known)
    if unknown:
        raise ValueError(f"track must name measures from {sorted(known)}, got {sorted(unknown)}")
    if spec.check_every is not None and not (isinstance(spec.check_every, int) and spec.check_every >= 1):
        raise ValueError(f"check_every must be a positive integer or None, got {spec.check_every!r}")


@dataclass
class RunRecord:
    """What a sweep caches of a run: JSON, without the model (``run`` rebuilds it from the spec)."""

    history: History
    num_parameters: int
    pretrain_history: History | None = None

    def to_dict(self) -> dict:
        return {"history": self.history.to_dict(), "num_parameters": self.num_parameters,
                "pretrain_history": self.pretrain_history and self.pretrain_history.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "RunRecord":
        pre = d.get("pretrain_history")
        return cls(History.from_dict(d["history"]), d["num_parameters"], pre and History.from_dict(pre))


@dataclass
class Run:
    """A finished run: its spec, the trained model, the data as trained on, and the histories."""

    spec: RunSpec
    model: nn.Module
    data: Dataset                            # after the spec's randomization: what was trained on
    history: History
    pretrain_history: History | None = None

    @property
    def num_parameters(self) -> int:
        return num_parameters(self.model)

    def record(self) -> RunRecord:
        return RunRecord(self.history, self.num_parameters, self.pretrain_history)

    def initial_model(self) -> nn.Module:
        """The same network untrained, as ``run`` built it (for measures relative to the init)."""
        return build_model(self.spec, self.data).to(model_device(self.model))


@functools.lru_cache(maxsize=8)
def _clean_dataset(name: str, n_train, n_test, seed: int) -> Dataset:
    return load_dataset(name, n_train=n_train, n_test=n_test, seed=seed)


def run_data(spec: RunSpec) -> Dataset:
    """The data of ``spec``, randomized as the spec says (seeded by ``spec.seed``)."""
    clean = _clean_dataset(spec.dataset, spec.n_train, spec.n_test, spec.data_seed)
    return randomize(clean, spec.randomization, p=spec.p, seed=spec.seed)


def build_model(spec: RunSpec, data: Dataset) -> nn.Module:
    """The untrained network of ``spec`` for ``data`` (seeded by ``spec.seed``)."""
    kwargs = dict(spec.model_kwargs, **({"dropout": spec.dropout} if spec.dropout else {}))
    return build(spec.architecture, data.input_shape, data.num_classes, seed=spec.seed,
                 init_std=spec.init_std, **kwargs)


def run(spec: RunSpec, *, progress: bool = False, device=None) -> Run:
    """Build the data, the randomization and the model of ``spec``, then ``fit`` it.

    The run has a random state of its own, so the same spec gives bit-identical results in
    any process at the same torch thread count: ``run_sweep`` sets the book's fixed count
    for every point, and each chapter sets it in its setup (``settings.use_fixed_threads``).
    """
    if not isinstance(spec, RunSpec):
        raise TypeError(f"spec must be a helpers.train.RunSpec, got {type(spec).__name__}")
    data = run_data(spec)
    model = build_model(spec, data)
    device = pick_device(device)
    common = dict(lr=spec.lr, batch_size=spec.batch_size, momentum=spec.momentum,
                  weight_decay=spec.weight_decay, optimizer=spec.optimizer, seed=spec.seed,
                  augment=random_crop if spec.augment else None, progress=progress, device=device,
                  precision=spec.precision, compile=spec.compile)
    functions, trackers = _tracked(spec.track, data, device)
    pre_history = _pretrain(model, spec, common)
    history = fit(model, data, epochs=spec.max_epochs, target_train_acc=spec.target_train_acc,
                  target_train_loss=spec.target_train_loss, check_every=spec.check_every,
                  epoch_metrics=functions,
                  desc=f"{spec.architecture} {spec.randomization} p={spec.p}", **common)
    history.per_example.update({name: t.first.tolist() for name, t in trackers.items()})
    return Run(spec, model, data, history, pre_history)


def _pretrain(model, spec: RunSpec, common: dict) -> History | None:
    pre = spec.pretrain
    if pre is None:
        return None
    clean = _clean_dataset(spec.dataset, spec.n_train, spec.n_test, spec.data_seed)
    noisy = randomize(clean, pre.randomization, p=pre.p, seed=spec.seed + 1)
    return fit(model, noisy, epochs=pre.max_epochs, target_train_acc=pre.target_train_acc,
               desc=f"pretrain p={pre.p}", **common)


def run_record(spec: RunSpec) -> RunRecord:
    """``run(spec).record()``: a sweep's function for runs whose model is not needed afterwards."""
    return run(spec).record()
