"""The cached sweep (resumes after a kill, recomputes damaged entries) and the scale profiles."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import types

import pytest

from helpers import scale, sweep

calls = []


def square(x, seed=0):
    calls.append(x)
    return {"y": x * x, "seed": seed}


def test_second_run_computes_nothing(tmp_path):
    calls.clear()
    points = [{"x": i} for i in range(4)]
    first = sweep.run_sweep(square, points, name="sq", directory=tmp_path)
    second = sweep.run_sweep(square, points, name="sq", directory=tmp_path)
    assert first == second == [{"y": i * i, "seed": 0} for i in range(4)]
    assert calls == [0, 1, 2, 3]
    assert len(list(tmp_path.glob("*.json"))) == 4 and not list(tmp_path.glob(".*tmp"))


def key(point, fn=square, version=""):
    return sweep.point_key(point, version, sweep.function_name(fn))


def test_version_point_and_function_change_the_key():
    assert key({"x": 1}) != key({"x": 2})
    assert key({"x": 1}) != key({"x": 1}, version="2")
    assert key({"a": 1, "b": 2}) == key({"b": 2, "a": 1})
    assert key({"x": 1}) != key({"x": 1}, fn=cube)


def cube(x, seed=0):
    return {"y": x ** 3, "seed": seed}


def test_two_functions_on_the_same_point_do_not_share_an_entry(tmp_path):
    points = [{"x": 2}]
    assert sweep.run_sweep(square, points, name="f", directory=tmp_path) == [{"y": 4, "seed": 0}]
    assert sweep.run_sweep(cube, points, name="f", directory=tmp_path) == [{"y": 8, "seed": 0}]
    assert len(list(tmp_path.glob("*.json"))) == 2


def test_a_notebook_function_needs_a_version(tmp_path):
    def local(x):  # like a function defined in a notebook cell: nothing versions its code
        return {"y": x}

    with pytest.raises(ValueError, match=r"defined in a notebook.*explicit version="):
        sweep.run_sweep(local, [{"x": 1}], name="nb", directory=tmp_path)
    with pytest.raises(ValueError, match="explicit version="):
        sweep.run_sweep(lambda x: {"y": x}, [{"x": 1}], name="nb", directory=tmp_path)
    assert sweep.run_sweep(local, [{"x": 1}], name="nb", directory=tmp_path, version="1") == [{"y": 1}]
    main = types.FunctionType(local.__code__, {}, "cell_function")
    main.__module__, main.__qualname__ = "__main__", "cell_function"  # what a Jupyter cell gives
    assert sweep.defined_in_a_notebook(main) and not sweep.defined_in_a_notebook(square)


def threads_seen(x):
    import torch

    return {"threads": torch.get_num_threads()}


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_every_point_runs_with_the_fixed_thread_count(tmp_path, monkeypatch, n_jobs):
    import torch

    monkeypatch.setenv("BOOK_THREADS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        results = sweep.run_sweep(threads_seen, [{"x": i} for i in range(3)], name="t",
                                  directory=tmp_path, n_jobs=n_jobs)
        assert torch.get_num_threads() == 2  # the caller's count is restored
    finally:
        torch.set_num_threads(before)
    assert results == [{"threads": 1}] * 3


def test_bad_thread_setting_is_refused(monkeypatch):
    from helpers import settings

    monkeypatch.setenv("BOOK_THREADS", "zero")
    with pytest.raises(ValueError, match="BOOK_THREADS environment variable must be a positive integer"):
        settings.threads()
    with pytest.raises(ValueError, match="count must be a positive integer"):
        with settings.fixed_threads(0):
            pass


def test_damaged_entry_is_recomputed_with_a_warning(tmp_path):
    calls.clear()
    points = [{"x": i} for i in range(3)]
    sweep.run_sweep(square, points, name="sq", directory=tmp_path)
    victim = tmp_path / f"{key({'x': 1})}.json"
    victim.write_text('{"point": {"x": 1}, "res')  # a torn write
    other = tmp_path / f"{key({'x': 2})}.json"
    other.write_text(json.dumps({"point": {"x": 99}, "result": {"y": -1}}))  # another point's entry
    calls.clear()
    with pytest.warns(RuntimeWarning, match="damaged sweep cache entry"):
        results = sweep.run_sweep(square, points, name="sq", directory=tmp_path)
    assert calls == [1, 2] and results[1] == {"y": 1, "seed": 0} and results[2] == {"y": 4, "seed": 0}
    assert json.loads(victim.read_text())["result"] == {"y": 1, "seed": 0}


SLOW = False  # the child process below sets it
seen = []


def square_slowly(x):
    if SLOW:
        time.sleep(0.3)
    seen.append(x)
    return {"y": x * x}


def test_killed_sweep_resumes_where_it_stopped(tmp_path):
    # A child process runs a slow sweep; we SIGKILL it after two points are on disk.
    tests = str(__import__("pathlib").Path(__file__).resolve().parent)
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{os.getcwd()!r}, {tests!r}]
        import test_sweep_scale as t
        from helpers import sweep
        t.SLOW = True
        sweep.run_sweep(t.square_slowly, [{{"x": i}} for i in range(50)], name="slow",
                        directory={str(tmp_path)!r}, progress=False)
    """)
    env = dict(os.environ, PYTHONPATH=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    child = subprocess.Popen([sys.executable, "-c", script], env=env)
    deadline = time.time() + 60
    while len(list(tmp_path.glob("*.json"))) < 2 and time.time() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    done = {json.loads(p.read_text())["point"]["x"] for p in tmp_path.glob("*.json")}
    assert 2 <= len(done) < 50  # it was killed mid-sweep; every entry on disk is complete JSON
    seen.clear()
    results = sweep.run_sweep(square_slowly, [{"x": i} for i in range(50)], name="slow", directory=tmp_path)
    assert results == [{"y": i * i} for i in range(50)]
    assert set(seen) == set(range(50)) - done  # only the missing points were computed


def test_sweep_rejects_bad_points(tmp_path):
    with pytest.raises(TypeError, match=r"points\[1\] must be a dict"):
        sweep.run_sweep(square, [{"x": 1}, 2], name="sq", directory=tmp_path)
    with pytest.raises(ValueError, match="name must be a non-empty folder name"):
        sweep.run_sweep(square, [], name="")


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BOOK_CACHE", str(tmp_path / "elsewhere"))
    assert sweep.cache_dir() == tmp_path / "elsewhere"


def test_scale_profiles(monkeypatch):
    assert scale.current() == "small"
    monkeypatch.setenv("BOOK_SCALE", "tiny")
    assert scale.current() == "tiny" and scale.randomization_tests().scale == "tiny"
    assert scale.current("paper") == "paper"
    monkeypatch.setenv("BOOK_SCALE", "huge")
    with pytest.raises(ValueError, match="BOOK_SCALE environment variable must be one of .*'huge'"):
        scale.current()
    with pytest.raises(ValueError, match="scale must be one of"):
        scale.randomization_tests("medium")


def test_paper_profile_and_its_smoke_scale(monkeypatch):
    paper = scale.randomization_tests("paper")
    assert paper.dataset == "cifar10" and paper.augment and {m.architecture for m in paper.table_models} >= {"mlp", "convnet"}
    monkeypatch.setenv("BOOK_SMOKE", "1")  # the old switch is gone: it changes nothing
    assert scale.randomization_tests("paper") == paper
    smoke = scale.randomization_tests("paper-smoke")
    assert smoke.dataset == "synthetic-cifar10" and smoke.max_epochs <= 2 and smoke.table_models == paper.table_models
    assert smoke.scale == "paper-smoke" and scale.randomization_tests("small").dataset == "mnist1d"


def test_profiles_are_keyword_only_and_json_ready():
    with pytest.raises(TypeError):
        scale.RandomizationTests("tiny", "mnist1d")  # positional construction is refused
    for getter in (scale.randomization_tests, scale.normalized_loss, scale.gsnr_profile,
                   scale.heavy_tails, scale.bad_minima, scale.measure_zoo):
        for name in scale.SCALES:
            cfg = getter(name)
            assert cfg.scale == name and json.loads(json.dumps(cfg.to_dict()))["scale"] == name


def test_every_profile_has_its_explorer_default_on_the_grid():
    for name in scale.SCALES:
        cfg = scale.randomization_tests(name)
        assert cfg.explorer_default_p in cfg.p_grid and 0.0 in cfg.p_grid and 1.0 in cfg.p_grid


def listing(x):
    return [x, x + 1]


def test_plain_results_come_back_the_same_from_the_cache(tmp_path):
    first = sweep.run_sweep(listing, [{"x": 1}], name="plain", directory=tmp_path)
    again = sweep.run_sweep(listing, [{"x": 1}], name="plain", directory=tmp_path)
    assert first == again == [[1, 2]]
    tupled = sweep.run_sweep(lambda x: {"pair": (x, x)}, [{"x": 3}], name="t", directory=tmp_path,
                             version="1")
    assert tupled == [{"pair": [3, 3]}]  # as JSON has it, on the first run as on the next


# --- issue 18: points and results checked as finite JSON, cache faults --------------------------

def returns(x):
    import math as _math
    import numpy as _np
    import torch as _torch
    calls.append(x)
    return {"ok": {"y": x}, "nan": {"y": _math.nan}, "tensor": {"y": _torch.tensor(1.0)},
            "none": None, "float32": {"y": _np.float32(1.0)}}[x]


@pytest.mark.parametrize("value,error,match", [
    ({1, 2}, TypeError, r"points\[1\]: field 'x' is a builtins\.set"),
    (__import__("torch").tensor([1.0]), TypeError, r"points\[1\]: field 'x' is a torch\.Tensor"),
    (__import__("numpy").float32(0.5), TypeError, r"points\[1\]: field 'x' is a numpy\.float32"),
    ({"inner": [1, float("nan")]}, ValueError, r"points\[1\]: field 'x\.inner\[1\]' is nan"),
])
def test_a_point_that_is_not_json_is_refused_before_computing(tmp_path, value, error, match):
    calls.clear()
    with pytest.raises(error, match=match):
        sweep.run_sweep(square, [{"x": 1}, {"x": value}], name="bad", directory=tmp_path)
    assert calls == [] and not list(tmp_path.glob("*.json"))


@pytest.mark.parametrize("kind,error,match", [
    ("nan", ValueError, r"returned a result for points\[1\].*field 'y' is nan"),
    ("tensor", TypeError, r"returned a result for points\[1\].*field 'y' is a torch\.Tensor"),
    ("float32", TypeError, r"returned a result for points\[1\].*numpy\.float32"),
    ("none", TypeError, r"returned a result for points\[1\].*the result is None"),
])
def test_a_result_that_is_not_finite_json_names_its_point_and_is_not_written(tmp_path, kind, error, match):
    calls.clear()
    with pytest.raises(error, match=match):
        sweep.run_sweep(returns, [{"x": "ok"}, {"x": kind}], name="bad", directory=tmp_path)
    entries = list(tmp_path.glob("*.json"))
    assert len(entries) == 1 and json.loads(entries[0].read_text())["result"] == {"y": "ok"}


def test_entries_are_readable_by_group_and_others(tmp_path):
    old = os.umask(0o022)
    try:
        sweep.run_sweep(square, [{"x": 1}], name="sq", directory=tmp_path)
    finally:
        os.umask(old)
    (entry,) = tmp_path.glob("*.json")
    assert entry.stat().st_mode & 0o777 == 0o644  # as any file the user writes, not mkstemp's 0600


def test_stale_temporary_files_are_removed_on_the_next_run(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # a pid no longer alive
    killed = tmp_path / f".{key({'x': 1})}.json.{dead}.abcd1234.tmp"
    killed.write_text('{"point": {"x": 1}, "res')
    old_style = tmp_path / f".{key({'x': 2})}.json.k3j2h1.tmp"  # mkstemp's name, from long ago
    old_style.write_text("{")
    os.utime(old_style, (time.time() - 3600, time.time() - 3600))
    live = tmp_path / f".{key({'x': 3})}.json.{os.getpid()}.ffff0000.tmp"  # being written now
    live.write_text("{")
    sweep.run_sweep(square, [{"x": 1}], name="sq", directory=tmp_path)
    assert not killed.exists() and not old_style.exists() and live.exists()


@pytest.mark.parametrize("damage", ["directory", "null result", "nan", "unreadable"])
def test_every_damaged_entry_is_recomputed_with_a_warning(tmp_path, monkeypatch, damage):
    calls.clear()
    sweep.run_sweep(square, [{"x": 1}], name="sq", directory=tmp_path)
    victim = tmp_path / f"{key({'x': 1})}.json"
    if damage == "directory":
        victim.unlink()
        (victim / "inside").mkdir(parents=True)
    elif damage == "null result":
        victim.write_text(json.dumps({"point": {"x": 1}, "result": None}))
    elif damage == "list":
        victim.write_text("[1, 2]")
    elif damage == "nan":
        victim.write_text('{"point": {"x": 1}, "result": {"y": NaN}}')
    else:  # another user's 0600 entry: reading it raises PermissionError (root reads anything)
        real = type(victim).read_text

        def read_text(self, *args, **kwargs):
            if self == victim:
                raise PermissionError(13, "Permission denied", str(self))
            return real(self, *args, **kwargs)

        monkeypatch.setattr(type(victim), "read_text", read_text)
    calls.clear()
    with pytest.warns(RuntimeWarning, match="damaged sweep cache entry"):
        assert sweep.run_sweep(square, [{"x": 1}], name="sq", directory=tmp_path) == [{"y": 1, "seed": 0}]
    assert calls == [1] and victim.is_file()
    monkeypatch.undo()
    assert json.loads(victim.read_text())["result"] == {"y": 1, "seed": 0}


def test_a_cache_folder_that_cannot_be_written_is_refused_before_training(tmp_path, monkeypatch):
    calls.clear()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(PermissionError, match=r"a-file/sq cannot be written or read.*BOOK_CACHE"):
        sweep.run_sweep(square, [{"x": 1}], name="sq", directory=blocker / "sq")
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    real_open = os.open

    def refuse(path, *args, **kwargs):  # a read-only folder (chmod does not stop root)
        if str(path).startswith(str(read_only)):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(PermissionError, match=r"read-only cannot be written or read.*BOOK_CACHE"):
        sweep.run_sweep(square, [{"x": 1}], name="sq", directory=read_only)
    assert calls == []  # nothing trained first
