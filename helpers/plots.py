"""One seaborn theme and the figure kinds the chapters share."""
from __future__ import annotations

import io
import math

import matplotlib
import matplotlib.pyplot as plt
import seaborn as sns

from .train import History

TRAIN_COLOR, TEST_COLOR = "#1f77b4", "#d62728"


def set_theme() -> None:
    """The book's look: seaborn 'whitegrid', a readable font size, compact figures."""
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.9)
    matplotlib.rcParams.update({"figure.dpi": 100, "savefig.bbox": "tight", "axes.titleweight": "bold"})


def _finite(values, what: str) -> list[float]:
    values = list(values)
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"refusing to plot {what}: it contains NaN or inf (did training diverge?)")
    return values


def _check_history(history: History, what: str) -> None:
    """A history that can be drawn: one with epochs, from a run that did not diverge."""
    if not isinstance(history, History):
        raise TypeError(f"history must be a helpers.train.History, got {type(history).__name__}")
    history.check_not_diverged(what)
    if history.epochs == 0:
        raise ValueError(f"refusing to plot {what}: its history has no epoch")


def plot_accuracy(ax, history: History, label: str = "", color=None, test: bool = True) -> None:
    """Train (solid) and test (dashed) accuracy per epoch, in percent; refuses a diverged run."""
    _check_history(history, label or "this run")
    epochs = range(1, history.epochs + 1)
    train = _finite(history.train_acc, f"train accuracy of {label or 'this run'}")
    ax.plot(epochs, [100 * a for a in train], color=color, label=f"{label} train".strip())
    if test:
        ax.plot(epochs, [100 * a for a in _finite(history.test_acc, "test accuracy")], color=color,
                linestyle="--", label=f"{label} test".strip())
    ax.set(xlabel="epoch", ylabel="accuracy (%)", ylim=(0, 101))


def gap_figure(history: History, title: str, chance: float | None = None):
    """Two panels for one run: accuracy (train vs test, gap shaded) and cross-entropy per epoch.

    Refuses (ValueError) a run that diverged or has no epoch: it has no curves to show."""
    _check_history(history, repr(title))
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(7.5, 3.2))
    epochs = list(range(1, history.epochs + 1))
    train = [100 * a for a in _finite(history.train_acc, "train accuracy")]
    test = [100 * a for a in _finite(history.test_acc, "test accuracy")]
    ax_acc.plot(epochs, train, color=TRAIN_COLOR, label="train")
    ax_acc.plot(epochs, test, color=TEST_COLOR, label="test")
    ax_acc.fill_between(epochs, test, train, color="0.6", alpha=0.25, label=f"gap {train[-1] - test[-1]:.1f} pts")
    if chance is not None:
        ax_acc.axhline(100 * chance, color="0.3", linestyle=":", linewidth=1, label="chance")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", ylim=(0, 101))
    # below the axes: inside, it would cover the test curve at some p
    ax_acc.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=4, fontsize=8)
    ax_loss.plot(epochs, _finite(history.train_loss, "train loss"), color=TRAIN_COLOR, label="train")
    ax_loss.plot(epochs, _finite(history.test_loss, "test loss"), color=TEST_COLOR, label="test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy (nats)", yscale="log")
    ax_loss.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def figure_png(fig, dpi: int = 80) -> bytes:
    """Render ``fig`` to PNG bytes and close it (a figure left open is saved into the page again)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()
