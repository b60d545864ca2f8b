"""Every ``BOOK_*`` environment variable is read here, and nowhere else; and the thread policy.

| variable          | default                                   | meaning                                  |
|-------------------|-------------------------------------------|------------------------------------------|
| ``BOOK_SCALE``    | ``small``                                 | profile: tiny, small, paper, paper-smoke |
| ``BOOK_CACHE``    | ``~/.cache/why-deep-networks-generalize`` | where sweeps are cached                  |
| ``BOOK_SCORECARDS`` | ``$BOOK_CACHE/scorecards``              | where chapters write their scorecard JSON |
| ``BOOK_DATA``     | ``./data``                                | where paper-scale data sets download     |
| ``BOOK_PROGRESS`` | ``1``                                     | progress bars (0: off)                   |
| ``BOOK_THREADS``  | ``1``                                     | torch threads of every run               |

**Threads.** A floating-point sum depends on how torch splits it over threads, so the same
seed gives different last digits with 1 and 2 threads, and training amplifies them. Every run
of the book therefore uses one fixed thread count, ``threads()``: the sweep sets it in every
job, serial or parallel, and each chapter's setup calls ``use_fixed_threads()`` for the
training it does outside a sweep. Parallelism comes from running points side by side
(``run_sweep(..., n_jobs=-1)``), never from more threads per run.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

SCALES = ("tiny", "small", "paper", "paper-smoke")
_FALSE = ("0", "false", "no", "off")


def scale(name: str | None = None) -> str:
    """The scale in force: ``name`` if given, else ``$BOOK_SCALE``, else 'small'."""
    value = name if name is not None else os.environ.get("BOOK_SCALE", "small")
    if value not in SCALES:
        source = "scale" if name is not None else "the BOOK_SCALE environment variable"
        raise ValueError(f"{source} must be one of {SCALES}, got {value!r}")
    return value


def cache_dir() -> Path:
    """``$BOOK_CACHE`` if set, else ``~/.cache/why-deep-networks-generalize``."""
    default = Path.home() / ".cache" / "why-deep-networks-generalize"
    return Path(os.environ.get("BOOK_CACHE") or default)


def scorecard_dir() -> Path:
    """Where chapters write their scorecards: ``$BOOK_SCORECARDS`` (``make book``:
    ``_build/scorecards``), else ``scorecards`` inside the sweep cache."""
    value = os.environ.get("BOOK_SCORECARDS")
    return Path(value) if value else cache_dir() / "scorecards"


def data_dir() -> Path:
    """``$BOOK_DATA`` if set, else ``./data``: where paper-scale data sets are downloaded."""
    return Path(os.environ.get("BOOK_DATA") or Path.cwd() / "data")


def progress() -> bool:
    """Progress bars on, unless ``$BOOK_PROGRESS`` is 0 (the site build: a finished bar is clutter)."""
    return os.environ.get("BOOK_PROGRESS", "1").strip().lower() not in _FALSE


def threads() -> int:
    """The torch thread count of every run: ``$BOOK_THREADS``, else 1 (see the module docstring)."""
    value = os.environ.get("BOOK_THREADS", "1")
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"the BOOK_THREADS environment variable must be a positive integer, got {value!r}")
    return count


def sweep_jobs() -> int:
    """``n_jobs`` for the chapters' sweeps: every core on a CPU (-1); one job with a GPU (or
    MPS), which the points then share in turn instead of one process per core each."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    accelerated = torch.cuda.is_available() or (mps is not None and mps.is_available())
    return 1 if accelerated else -1


def use_fixed_threads() -> int:
    """Set torch to ``threads()`` threads for the rest of the process; returns the count.

    Each chapter's setup cell calls this, so that its training outside a sweep runs as a sweep
    point would.
    """
    import torch

    count = threads()
    torch.set_num_threads(count)
    return count


@contextlib.contextmanager
def fixed_threads(count: int | None = None):
    """Run the block with ``count`` (default ``threads()``) torch threads, then restore the old count."""
    import torch

    count = threads() if count is None else count
    if not (isinstance(count, int) and count >= 1):
        raise ValueError(f"count must be a positive integer, got {count!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield count
    finally:
        torch.set_num_threads(before)
