"""Parallel sweeps: joblib's process pool and a local Dask cluster give the serial results, bit for bit;
the worker processes of a killed sweep exit by themselves.

The serial run is made with torch at two threads in the calling process, as a notebook would
leave it: the sweep itself must fix the thread count of every point, and dropout masks must
follow the run's seed, for the schedules to agree.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import distributed
import psutil
import pytest
import torch
from joblib import parallel_config

from helpers import sweep, train

POINTS = [train.RunSpec(dataset="mnist1d", n_train=200, n_test=100, architecture="mlp",
                        model_kwargs={"hidden": [32, 32]}, dropout=0.3, lr=0.05, batch_size=50,
                        max_epochs=2, randomization="random labels", p=p, seed=s)
          for p in (0.0, 1.0) for s in (0, 1)]


def _without_wall_time(records):
    return [dict(r.to_dict(), history={k: v for k, v in r.history.to_dict().items() if k != "seconds"})
            for r in records]


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the caller's count must not matter
    try:
        return _without_wall_time(sweep.run_sweep(train.run_record, POINTS, name="s", progress=False,
                                                  directory=tmp_path_factory.mktemp("serial")))
    finally:
        torch.set_num_threads(threads)


def test_joblib_processes_match_the_serial_run_and_fill_the_cache(serial, tmp_path):
    parallel = sweep.run_sweep(train.run_record, POINTS, name="p", directory=tmp_path, n_jobs=2, progress=False)
    assert _without_wall_time(parallel) == serial
    assert len(list(tmp_path.glob("*.json"))) == len(POINTS)


def test_a_second_run_trains_nothing_and_returns_typed_records(serial, tmp_path):
    first = sweep.run_sweep(train.run_record, POINTS, name="p", directory=tmp_path, n_jobs=2, progress=False)
    calls = []

    def counting(spec):
        calls.append(spec)
        return train.run_record(spec)

    counting.__module__, counting.__qualname__ = train.run_record.__module__, train.run_record.__qualname__
    again = sweep.run_sweep(counting, POINTS, name="p", directory=tmp_path, progress=False)
    assert not calls and again == first and all(isinstance(r, train.RunRecord) for r in again)


@pytest.mark.slow
def test_local_dask_cluster_matches_the_serial_run(serial, tmp_path):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster):
        with parallel_config(backend="dask"):
            results = sweep.run_sweep(train.run_record, POINTS, name="d", directory=tmp_path, n_jobs=-1,
                                      progress=False)
    assert _without_wall_time(results) == serial


def test_bad_n_jobs_raises(tmp_path):
    with pytest.raises(ValueError, match="n_jobs must be a positive integer or -1"):
        sweep.run_sweep(train.run_record, POINTS, name="x", directory=tmp_path, n_jobs=0)


def test_workers_exit_soon_after_their_parent_is_killed(tmp_path):
    # A child runs a 2-job sweep whose points sleep for a minute, so both workers are busy; we
    # SIGKILL the child (no atexit, no executor shutdown): every process it started must go.
    started_dir = tmp_path / "started"
    started_dir.mkdir()
    script = textwrap.dedent(f"""
        import os, time
        from helpers import sweep

        def nap(x):
            open(os.path.join({str(started_dir)!r}, str(x)), "w").close()
            time.sleep(60)
            return {{"x": x}}

        sweep.run_sweep(nap, [{{"x": i}} for i in range(4)], name="nap", version="1",
                        directory={str(tmp_path / "cache")!r}, progress=False, n_jobs=2)
    """)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    child = subprocess.Popen([sys.executable, "-c", script], env=env)
    deadline = time.time() + 30
    while len(list(started_dir.iterdir())) < 2 and time.time() < deadline and child.poll() is None:
        time.sleep(0.1)
    started = psutil.Process(child.pid).children(recursive=True)  # workers, resource trackers
    child.send_signal(signal.SIGKILL)
    child.wait()
    killed = time.time()
    try:
        assert len(list(started_dir.iterdir())) == 2, "the sweep did not start 2 points within 30 s"
        assert sum("LokyProcess" in " ".join(p.cmdline()) for p in started) == 2
        _, alive = psutil.wait_procs(started, timeout=15)
        assert not alive, f"{len(alive)} of {len(started)} processes outlived their killed parent by 15 s"
        print(f"all {len(started)} processes gone {time.time() - killed:.1f} s after the kill")
    finally:
        for p in started:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
