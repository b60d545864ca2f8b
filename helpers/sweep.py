"""Run a grid of experiments with an on-disk cache.

Each point's result is written atomically (a temporary file, then ``os.replace``), so a sweep
that is killed loses at most the point it was computing and resumes where it stopped. An entry
that cannot be read back, or that belongs to another point, is recomputed with a warning.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterable

from tqdm.auto import tqdm

from . import __version__, settings


def cache_dir() -> Path:
    """Where sweeps are cached: ``settings.cache_dir()`` (``$BOOK_CACHE``)."""
    return settings.cache_dir()


def function_name(fn: Callable) -> str:
    """``module:qualname`` of ``fn``: the part of a cache key that says which function ran."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    if not (module and qualname):
        raise TypeError(f"fn must be a function with a module and a name, got {fn!r}")
    return f"{module}:{qualname}"


def defined_in_a_notebook(fn: Callable) -> bool:
    """True for functions a cell, a script or a closure defines: nothing versions their code."""
    module, qualname = getattr(fn, "__module__", ""), getattr(fn, "__qualname__", "")
    return module == "__main__" or "<locals>" in qualname or "<lambda>" in qualname


def _encode(obj):
    """JSON for the objects a point or a result may hold: specs and records with ``to_dict``."""
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"{type(obj).__name__} is not JSON-serializable (give it a to_dict method)")


def as_json(value):
    """``value`` as the cache stores it: plain JSON types only."""
    return json.loads(json.dumps(value, default=_encode))


def point_key(point, version: str = "", function: str = "") -> str:
    """A stable name for a point: a hash of its JSON form, the function, the package version
    and ``version``."""
    text = json.dumps({"point": point, "function": function, "version": f"{__version__}/{version}"},
                      sort_keys=True, default=_encode)
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


def _result_type(name: str):
    """The class named by a cache entry: only ``helpers`` types are rebuilt, nothing else imported."""
    module, _, qualname = name.partition(":")
    if not (module == "helpers" or module.startswith("helpers.")) or not qualname.isidentifier():
        raise ValueError(f"the entry names a result type outside helpers ({name!r})")
    cls = getattr(importlib.import_module(module), qualname)
    if not hasattr(cls, "from_dict"):
        raise ValueError(f"the result type {name!r} has no from_dict")
    return cls


def _payload(point, result) -> dict:
    """What the cache stores for a point: JSON, with the type of a typed result so it comes back as one."""
    payload = {"point": as_json(point), "result": as_json(result)}
    if hasattr(result, "to_dict"):
        payload["result_type"] = function_name(type(result))
        _result_type(payload["result_type"])  # refuse, before writing, a type that could not come back
    return payload


def _read(path: Path, point):
    """The cached result for ``point``, or None when there is none or it is damaged."""
    if not path.exists():
        return None
    try:
        payload = json.loads(path.read_text())
        if payload["point"] != as_json(point):
            raise ValueError("the entry belongs to another point")
        if "result_type" in payload:
            return _result_type(payload["result_type"]).from_dict(payload["result"])
        return payload["result"]
    except (ValueError, KeyError, TypeError, AttributeError, ImportError) as err:
        warnings.warn(f"damaged sweep cache entry {path} ({err}); recomputing it", RuntimeWarning)
        return None


def _call(fn, point, index: int, threads: int):
    """Run one point with ``threads`` torch threads (in a worker process when parallel).

    Serial or parallel, every point runs with the same thread count, so the floating-point
    sums, and hence the results, do not depend on how the sweep was scheduled.
    """
    with settings.fixed_threads(threads):
        result = fn(point) if not isinstance(point, dict) else fn(**point)
    return index, result


def _check_function(fn, version: str) -> None:
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if not isinstance(version, str):
        raise TypeError(f"version must be a string, got {type(version).__name__}")
    if defined_in_a_notebook(fn) and not version:
        raise ValueError(
            f"fn {function_name(fn)} is defined in a notebook, a script or a closure, so the cache "
            "cannot tell when its code changes: pass run_sweep an explicit version='...' and change "
            "it whenever you change the function")


def run_sweep(fn: Callable, points: Iterable, name: str, version: str = "",
              directory: str | os.PathLike | None = None, progress: bool | None = None,
              n_jobs: int = 1) -> list:
    """Evaluate ``fn`` at every point, reusing cached results; return the results in order.

    A point is a dict of keyword arguments (``fn(**point)``; its values may be specs such as
    ``train.RunSpec``) or a spec itself (``fn(spec)``). ``fn`` must return a JSON-serializable
    dict, or an object with ``to_dict`` and a ``from_dict`` classmethod defined in ``helpers``
    (such as ``train.RunRecord``), which comes back from the cache as the same type; and it must
    be deterministic given the point (pass a seed in the point). The cache key is the point,
    the function's module and name, the package version and ``version``: bump ``version`` when
    ``fn`` changes in a way that invalidates old results. A function defined in a notebook must
    be given a ``version`` (the cache cannot see its code otherwise). ``name`` is the sweep's
    folder in the cache; ``progress=None`` follows ``settings.progress()``.

    Every point runs with ``settings.threads()`` torch threads, serial or parallel, so results
    are bit-identical however the grid is scheduled. ``n_jobs`` > 1 (or -1: all cores) computes
    the missing points in parallel with joblib; results are written by this process as each one
    arrives, so an interrupted parallel sweep keeps every finished point. Inside
    ``joblib.parallel_config(backend="dask")`` the same call runs on a Dask cluster (Ray
    likewise), with no other change: workers need only the package, not the cache folder.
    """
    points = list(points)
    _check_function(fn, version)
    if not isinstance(name, str) or not name or os.sep in name:
        raise ValueError(f"name must be a non-empty folder name, got {name!r}")
    for i, point in enumerate(points):
        if not (isinstance(point, dict) or hasattr(point, "to_dict")):
            raise TypeError(f"points[{i}] must be a dict of keyword arguments or a spec with to_dict, "
                            f"got {type(point).__name__}")
    if not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive integer or -1 (all cores), got {n_jobs!r}")
    folder = Path(directory) if directory is not None else cache_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    function = function_name(fn)
    paths = [folder / f"{point_key(point, version, function)}.json" for point in points]
    results = [_read(path, point) for path, point in zip(paths, points)]
    missing = [i for i, r in enumerate(results) if r is None]
    show = settings.progress() if progress is None else progress
    bar = tqdm(total=len(missing), desc=name, disable=not show, leave=False)
    threads = settings.threads()  # read here, not in a worker whose environment may differ
    if n_jobs == 1 or len(missing) <= 1:
        done = (_call(fn, points[i], i, threads) for i in missing)
    else:
        from joblib import Parallel, delayed

        done = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_call)(fn, points[i], i, threads) for i in missing)
    for i, result in done:
        payload = _payload(points[i], result)
        _write_atomic(paths[i], payload)
        # a plain result as it will come back from the cache, so the first run and the next agree
        results[i] = result if "result_type" in payload else payload["result"]
        bar.update()
    bar.close()
    return results
