"""Parallel sweeps: joblib's process pool and a local Dask cluster give the serial results, bit for bit.

The serial run is made with torch at two threads in the calling process, as a notebook would
leave it: the sweep itself must fix the thread count of every point, and dropout masks must
follow the run's seed, for the schedules to agree.
"""
import distributed
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
