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


def _call(fn, point: dict, index: int, threads: int | None):
    """Run one point (in a worker process when parallel); returns (index, result)."""
    if threads is not None:
        import torch  # one thread per job: n_jobs jobs share the machine's cores

        torch.set_num_threads(threads)
    return index, fn(**point)


def run_sweep(fn: Callable[..., dict], points: Iterable[dict], name: str, version: str = "",
              directory: str | os.PathLike | None = None, progress: bool | None = None,
              n_jobs: int = 1) -> list[dict]:
    """Evaluate ``fn(**point)`` for every point, reusing cached results; return them in order.

    ``fn`` must return a JSON-serializable dict and be deterministic given the point (pass a
    seed in the point). ``name`` is the sweep's folder in the cache; bump ``version`` when ``fn``
    changes in a way that invalidates old results. ``progress=None`` follows ``show_progress()``.

    ``n_jobs`` > 1 (or -1: all cores) computes the missing points in parallel with joblib, one
    torch thread per job; results are written by this process as each one arrives, so an
    interrupted parallel sweep keeps every finished point. Inside
    ``joblib.parallel_config(backend="dask")`` the same call runs on a Dask cluster (Ray
    likewise), with no other change: workers need only the package, not the cache folder.
    """
    points = list(points)
    if not name or os.sep in name:
        raise ValueError(f"name must be a non-empty folder name, got {name!r}")
    for i, point in enumerate(points):
        if not isinstance(point, dict):
            raise TypeError(f"points[{i}] must be a dict of keyword arguments, got {type(point).__name__}")
    if not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive integer or -1 (all cores), got {n_jobs!r}")
    folder = Path(directory) if directory is not None else cache_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{point_key(point, version)}.json" for point in points]
    results = [_read(path, point) for path, point in zip(paths, points)]
    missing = [i for i, r in enumerate(results) if r is None]
    bar = tqdm(total=len(missing), desc=name, disable=not (show_progress() if progress is None else progress),
               leave=False)
    if n_jobs == 1:
        done = (_call(fn, points[i], i, None) for i in missing)
    else:
        from joblib import Parallel, delayed

        done = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_call)(fn, points[i], i, 1) for i in missing)
    for i, result in done:
        _write_atomic(paths[i], {"point": points[i], "result": result})
        results[i] = result
        bar.update()
    bar.close()
    return results
