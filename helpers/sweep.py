"""Run a grid of experiments with an on-disk cache.

Each point's result is written atomically (a temporary file, then ``os.replace``), so a sweep
that is killed loses at most the point it was computing and resumes where it stopped; the
temporary files a killed write leaves behind are removed by the next run. An entry that cannot
be read back (torn, unreadable, a directory, no result, another point's) is recomputed with a
warning. Points and results must be finite JSON, checked before anything is computed or written.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import secrets
import shutil
import sys
import threading
import time
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


_TMP_SUFFIX = ".tmp"
STALE_SECONDS = 600  # a temporary file of no known live writer, untouched this long, is stale


def write_atomic(path: Path, write: Callable, binary: bool = False) -> None:
    """Write a file through a temporary one in the same folder, then ``os.replace``: readers see
    the old file or the new one, never half of one. ``write(f)`` fills the open file (text, or
    bytes with ``binary``). The project's one atomic writer: the sweep cache, the scorecards and
    the MNIST-1D draws use it.

    The file is created with mode 0666 less the umask, like any file the user writes (not
    mkstemp's 0600), so a cache copied to another user or machine can be read there. The
    temporary file's name holds the writer's pid, so the next run can tell a stale one.
    """
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{_TMP_SUFFIX}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if path.is_dir() and not path.is_symlink():  # a damaged entry: a directory in its place
            shutil.rmtree(path)
        os.replace(tmp, path)  # atomic on POSIX and Windows: readers see the old file or the new
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _writer_alive(tmp: Path) -> bool:
    """Whether the process named in a temporary file's name may still be writing it."""
    parts = tmp.name.split(".")
    pid = parts[-3] if len(parts) >= 4 else ""
    if not pid.isdigit():
        return False  # an older name (mkstemp's): judged by its age alone
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to another user
        return True
    return True


def _remove_stale_temporaries(folder: Path) -> None:
    """Remove the temporary files of killed writes: no live writer here, or untouched for long."""
    now = time.time()
    for tmp in folder.glob(f".*{_TMP_SUFFIX}"):
        try:
            if not _writer_alive(tmp) or now - tmp.stat().st_mtime > STALE_SECONDS:
                tmp.unlink()
        except OSError:
            pass  # gone already, or not ours to remove: it does no harm


def _check_folder(folder: Path) -> None:
    """Create ``folder`` if needed and check, before anything is computed, that the sweep can
    list, write and read back its entries there."""
    hint = ("point the environment variable BOOK_CACHE at a folder you can write (or pass "
            "run_sweep directory=...)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-probe.{os.getpid()}.{secrets.token_hex(4)}{_TMP_SUFFIX}"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "w") as f:
                f.write("{}")
            probe.read_text()
        finally:
            probe.unlink(missing_ok=True)
        os.listdir(folder)
    except OSError as err:
        raise PermissionError(f"the sweep cache folder {folder} cannot be written or read "
                              f"({type(err).__name__}: {err.strerror or err}): {hint}") from err


def _json_fault(value, path: str) -> tuple[type, str] | None:
    """The first part of ``value`` that is not finite JSON, as (error type, description), or None.

    JSON here is None, bool, int, finite float, str, lists, tuples and dicts with str or int
    keys, and objects with ``to_dict`` (checked through it). ``path`` names ``value``.
    """
    where = f"field {path!r}" if path else "the value"
    if value is None or isinstance(value, (bool, int, str)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (ValueError, f"{where} is {value} (not finite)")
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            fault = _json_fault(item, f"{path}[{i}]")
            if fault:
                return fault
        return None
    if isinstance(value, dict):
        for k, item in value.items():
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                return TypeError, f"{where} has a key {k!r} of type {type(k).__name__}"
            fault = _json_fault(item, f"{path}.{k}" if path else str(k))
            if fault:
                return fault
        return None
    if hasattr(value, "to_dict"):
        return _json_fault(value.to_dict(), path)
    return TypeError, f"{where} is a {type(value).__module__}.{type(value).__name__} ({value!r:.60})"


_JSON_TYPES = ("None, bool, int, finite float, str, and lists and dicts of them (numpy scalars: "
               "float(x) or int(x); tensors and arrays: .tolist(); sets: sorted(s))")


def _check_point(point, i: int) -> None:
    fault = _json_fault(point, "")
    if fault:
        error, what = fault
        raise error(f"points[{i}]: {what}, which the sweep cache cannot store; a point may hold "
                    f"{_JSON_TYPES}, or specs with to_dict")


def _check_result(result, point, i: int, function: str) -> None:
    fault = (TypeError, "the result is None") if result is None else _json_fault(result, "")
    if fault:
        error, what = fault
        raise error(f"{function} returned a result for points[{i}] ({as_json(point)!r:.200}) that "
                    f"the sweep cache cannot store: {what}; return {_JSON_TYPES}, or an object "
                    "with to_dict (NaN or inf: say in the result why the value is missing)")


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


def _refuse_constant(name: str):
    raise ValueError(f"the entry holds the non-standard JSON constant {name}")


def _read(path: Path, point):
    """The cached result for ``point``, or None when there is none or it is damaged."""
    if not os.path.lexists(path):
        return None
    try:
        if path.is_dir():
            raise ValueError("a directory stands where the entry should be")
        payload = json.loads(path.read_text(), parse_constant=_refuse_constant)
        if not isinstance(payload, dict):
            raise ValueError(f"the entry is a JSON {type(payload).__name__}, not an object")
        if payload["point"] != as_json(point):
            raise ValueError("the entry belongs to another point")
        if payload["result"] is None:
            raise ValueError("the entry has no result")
        if "result_type" in payload:
            return _result_type(payload["result_type"]).from_dict(payload["result"])
        return payload["result"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ImportError) as err:
        warnings.warn(f"damaged sweep cache entry {path} ({type(err).__name__}: {err}); "
                      "recomputing it", RuntimeWarning)
        return None


# A loky worker whose parent is killed outright (SIGKILL, the OOM killer) is told nothing: it
# finishes its point, then the points already queued for it, all for nobody, and then waits,
# idle but alive. So each local worker process runs a watchdog thread that exits it once its
# parent has died (loky's resource trackers then clean up and exit too). Why this way:
# - os.getppid() changes only when the parent dies (the orphan is adopted by init or a
#   subreaper), so comparing it with the sweep's pid cannot mistake a live parent for a dead one,
#   and pid reuse cannot fool it (polling os.kill(pid, 0) could be); the poll is one syscall.
# - prctl(PR_SET_PDEATHSIG) is Linux-only, fires when the *thread* that spawned the worker ends
#   (loky respawns workers from its manager thread), and can only be set after the fork, racing
#   with the parent's death.
# - loky's idle_worker_timeout only stops idle workers, after minutes; a busy one finishes its
#   point first (hours at paper scale). Shutting the executor down needs a live parent.
# The watchdog is armed only when the sweep itself chose a local process backend (loky or
# multiprocessing) and the worker is a direct child of the sweep's process: workers of Dask, Ray
# or any other backend are left alone, as is everything when a point runs in the sweep's own
# process (serial, threads). On Windows os.getppid() never changes, so it is not armed there.
_PARENT_POLL_SECONDS = 0.5
_watchdogs: set = set()  # (worker pid, parent pid) pairs watched in this process
_watchdogs_lock = threading.Lock()


def _exit_with_parent(parent: int) -> None:
    """In a local worker process of the sweep process ``parent``, start (once) a daemon thread
    that ends this process with ``os._exit`` as soon as ``parent`` has died."""
    me = os.getpid()
    if os.name != "posix" or me == parent or os.getppid() != parent:
        return  # not a direct child of the sweep on POSIX: not ours to stop
    with _watchdogs_lock:
        if (me, parent) in _watchdogs:  # a worker reused for later points
            return
        _watchdogs.add((me, parent))

    def watch():
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL_SECONDS)
        try:
            print(f"helpers.sweep: worker {me} exits: its sweep process {parent} is gone",
                  file=sys.stderr, flush=True)
        finally:
            os._exit(1)

    threading.Thread(target=watch, name="helpers.sweep: exit with the parent", daemon=True).start()


def _local_process_backend(parallel) -> bool:
    """Whether joblib runs ``parallel``'s jobs in processes on this machine (loky,
    multiprocessing), not on a cluster; an unknown joblib layout counts as not local."""
    from joblib.parallel import LokyBackend, MultiprocessingBackend

    return isinstance(getattr(parallel, "_backend", None), (LokyBackend, MultiprocessingBackend))


def _call(fn, point, index: int, threads: int, parent: int | None = None):
    """Run one point with ``threads`` torch threads (in a worker process when parallel).

    Serial or parallel, every point runs with the same thread count, so the floating-point
    sums, and hence the results, do not depend on how the sweep was scheduled. ``parent``: the
    pid of the sweep's process when the point runs in a local worker process, which then exits
    if that process dies (see ``_exit_with_parent``).
    """
    if parent is not None:
        _exit_with_parent(parent)
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
    ``fn`` changes in a way that invalidates old results. Points and results must be finite
    JSON: a set, a tensor, a numpy scalar or a NaN in a point is refused before anything is
    computed, and such a result (or None) raises an error naming its point instead of being
    written (the other points are computed and cached first). A function defined in a notebook must
    be given a ``version`` (the cache cannot see its code otherwise). ``name`` is the sweep's
    folder in the cache; ``progress=None`` follows ``settings.progress()``.

    Every point runs with ``settings.threads()`` torch threads, serial or parallel, so results
    are bit-identical however the grid is scheduled. ``n_jobs`` > 1 (or -1: all cores) computes
    the missing points in parallel with joblib; results are written by this process as each one
    arrives, so an interrupted parallel sweep keeps every finished point; if this process is
    killed, its local worker processes exit within about a second. Inside
    ``joblib.parallel_config(backend="dask")`` the same call runs on a Dask cluster (Ray
    likewise), with no other change: workers need only the package, not the cache folder.
    A cache folder that cannot be written or read is refused before any point is computed.
    """
    points = list(points)
    _check_function(fn, version)
    if not isinstance(name, str) or not name or os.sep in name:
        raise ValueError(f"name must be a non-empty folder name, got {name!r}")
    for i, point in enumerate(points):
        if not (isinstance(point, dict) or hasattr(point, "to_dict")):
            raise TypeError(f"points[{i}] must be a dict of keyword arguments or a spec with to_dict, "
                            f"got {type(point).__name__}")
        _check_point(point, i)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive integer or -1 (all cores), got {n_jobs!r}")
    folder = Path(directory) if directory is not None else cache_dir() / name
    _check_folder(folder)
    _remove_stale_temporaries(folder)
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

        parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        parent = os.getpid() if _local_process_backend(parallel) else None
        done = parallel(delayed(_call)(fn, points[i], i, threads, parent) for i in missing)
    refused = []
    for i, result in done:
        try:
            _check_result(result, points[i], i, function)
        except (TypeError, ValueError) as err:
            refused.append(err)  # the other points are still computed and cached
            continue
        payload = _payload(points[i], result)
        write_atomic(paths[i], lambda f: json.dump(payload, f, allow_nan=False))
        # a plain result as it will come back from the cache, so the first run and the next agree
        results[i] = result if "result_type" in payload else payload["result"]
        bar.update()
    bar.close()
    if refused:
        more = f" (and {len(refused) - 1} more point(s) like it)" if len(refused) > 1 else ""
        raise type(refused[0])(f"{refused[0]}{more}") from refused[0]
    return results
