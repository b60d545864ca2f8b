"""Run a grid of experiments with an on-disk cache.

Each point's result is written atomically (a temporary file, then ``os.replace``), so a sweep
that is killed loses at most the point it was computing and resumes where it stopped. An entry
that cannot be read back, or that belongs to another point, is recomputed with a warning.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterable

from tqdm.auto import tqdm

from . import __version__


def cache_dir() -> Path:
    """``$BOOK_CACHE`` if set, else ``~/.cache/why-deep-networks-generalize``."""
    default = Path.home() / ".cache" / "why-deep-networks-generalize"
    return Path(os.environ.get("BOOK_CACHE", default))


def show_progress() -> bool:
    """Progress bars on, unless ``$BOOK_PROGRESS`` is 0 (the site build: a finished bar is clutter)."""
    return os.environ.get("BOOK_PROGRESS", "1").lower() not in ("0", "false", "no")


def point_key(point: dict, version: str = "") -> str:
    """A stable name for a point: a hash of its JSON form, the package version and ``version``."""
    text = json.dumps({"point": point, "version": f"{__version__}/{version}"}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _write_atomic(path: Path, payload: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX and Windows: readers see the old file or the new
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path, point: dict):
    """The cached result for ``point``, or None when there is none or it is damaged."""
    if not path.exists():
        return None
    try:
        payload = json.loads(path.read_text())
        if payload["point"] != json.loads(json.dumps(point)):
            raise ValueError("the entry belongs to another point")
        return payload["result"]
    except (ValueError, KeyError, TypeError) as err:
        warnings.warn(f"damaged sweep cache entry {path} ({err}); recomputing it", RuntimeWarning)
        return None


def run_sweep(fn: Callable[..., dict], points: Iterable[dict], name: str, version: str = "",
              directory: str | os.PathLike | None = None, progress: bool | None = None) -> list[dict]:
    """Evaluate ``fn(**point)`` for every point, reusing cached results; return them in order.

    ``fn`` must return a JSON-serializable dict and be deterministic given the point (pass a
    seed in the point). ``name`` is the sweep's folder in the cache; bump ``version`` when ``fn``
    changes in a way that invalidates old results. ``progress=None`` follows ``show_progress()``.
    """
    points = list(points)
    if not name or os.sep in name:
        raise ValueError(f"name must be a non-empty folder name, got {name!r}")
    for i, point in enumerate(points):
        if not isinstance(point, dict):
            raise TypeError(f"points[{i}] must be a dict of keyword arguments, got {type(point).__name__}")
    folder = Path(directory) if directory is not None else cache_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    results = []
    for point in tqdm(points, desc=name, disable=not (show_progress() if progress is None else progress), leave=False):
        path = folder / f"{point_key(point, version)}.json"
        result = _read(path, point)
        if result is None:
            result = fn(**point)
            _write_atomic(path, {"point": point, "result": result})
        results.append(result)
    return results
