"""Parallel sweeps: joblib's process pool and a local Dask cluster give the serial results."""
import pytest
import torch

from helpers import sweep, train

POINTS = [dict(dataset="mnist1d", n_train=200, n_test=100, architecture="mlp", model_kwargs={"hidden": [16]},
               lr=0.05, batch_size=50, max_epochs=2, randomization="random labels", p=p, seed=s)
          for p in (0.0, 1.0) for s in (0, 1)]


def _without_wall_time(results):
    return [dict(r, history={k: v for k, v in r["history"].items() if k != "seconds"}) for r in results]


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in each parallel job, so the floating-point sums are the same
    try:
        return _without_wall_time(sweep.run_sweep(train.train_run, POINTS, name="s", progress=False,
                                                  directory=tmp_path_factory.mktemp("serial")))
    finally:
        torch.set_num_threads(threads)


def _refuse(**point):
    raise AssertionError(f"the cache should have answered for {point}")


def test_joblib_processes_match_the_serial_run_and_fill_the_cache(serial, tmp_path):
    parallel = sweep.run_sweep(train.train_run, POINTS, name="p", directory=tmp_path, n_jobs=2, progress=False)
    assert _without_wall_time(parallel) == serial
    again = sweep.run_sweep(_refuse, POINTS, name="p", directory=tmp_path, n_jobs=2, progress=False)
    assert again == parallel  # a second run trains nothing


@pytest.mark.slow
def test_local_dask_cluster_matches_the_serial_run(serial, tmp_path):
    distributed = pytest.importorskip("distributed")
    from joblib import parallel_config

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster):
        with parallel_config(backend="dask"):
            results = sweep.run_sweep(train.train_run, POINTS, name="d", directory=tmp_path, n_jobs=-1,
                                      progress=False)
    assert _without_wall_time(results) == serial


def test_bad_n_jobs_raises(tmp_path):
    with pytest.raises(ValueError, match="n_jobs must be a positive integer or -1"):
        sweep.run_sweep(_refuse, POINTS, name="x", directory=tmp_path, n_jobs=0)
