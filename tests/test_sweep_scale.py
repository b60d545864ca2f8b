"""The cached sweep (resumes after a kill, recomputes damaged entries) and the scale profiles."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

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


def test_version_and_point_change_the_key():
    assert sweep.point_key({"x": 1}) != sweep.point_key({"x": 2})
    assert sweep.point_key({"x": 1}) != sweep.point_key({"x": 1}, version="2")
    assert sweep.point_key({"a": 1, "b": 2}) == sweep.point_key({"b": 2, "a": 1})


def test_damaged_entry_is_recomputed_with_a_warning(tmp_path):
    calls.clear()
    points = [{"x": i} for i in range(3)]
    sweep.run_sweep(square, points, name="sq", directory=tmp_path)
    victim = tmp_path / f"{sweep.point_key({'x': 1})}.json"
    victim.write_text('{"point": {"x": 1}, "res')  # a torn write
    other = tmp_path / f"{sweep.point_key({'x': 2})}.json"
    other.write_text(json.dumps({"point": {"x": 99}, "result": {"y": -1}}))  # another point's entry
    calls.clear()
    with pytest.warns(RuntimeWarning, match="damaged sweep cache entry"):
        results = sweep.run_sweep(square, points, name="sq", directory=tmp_path)
    assert calls == [1, 2] and results[1] == {"y": 1, "seed": 0} and results[2] == {"y": 4, "seed": 0}
    assert json.loads(victim.read_text())["result"] == {"y": 1, "seed": 0}


def test_killed_sweep_resumes_where_it_stopped(tmp_path):
    # A child process runs a slow sweep; we SIGKILL it after two points are on disk.
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {os.getcwd()!r})
        from helpers import sweep
        def slow(x):
            time.sleep(0.3)
            return {{"y": x * x}}
        sweep.run_sweep(slow, [{{"x": i}} for i in range(50)], name="slow", directory={str(tmp_path)!r}, progress=False)
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
    seen = []

    def fast(x):
        seen.append(x)
        return {"y": x * x}

    results = sweep.run_sweep(fast, [{"x": i} for i in range(50)], name="slow", directory=tmp_path)
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


def test_paper_profile_and_its_smoke_mode(monkeypatch):
    paper = scale.randomization_tests("paper")
    assert paper.dataset == "cifar10" and paper.augment and {m.architecture for m in paper.table_models} >= {"mlp", "convnet"}
    monkeypatch.setenv("BOOK_SMOKE", "1")
    smoke = scale.randomization_tests("paper")
    assert smoke.dataset == "synthetic-cifar10" and smoke.max_epochs <= 2 and smoke.table_models == paper.table_models
    assert scale.randomization_tests("small").dataset == "mnist1d"  # smoke only touches paper


def test_every_profile_has_its_explorer_default_on_the_grid():
    for name in scale.SCALES:
        cfg = scale.randomization_tests(name)
        assert cfg.explorer_default_p in cfg.p_grid and 0.0 in cfg.p_grid and 1.0 in cfg.p_grid
