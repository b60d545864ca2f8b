"""Chapter 5's networks (issue 15): the profile's series, zoo.analyze_networks (each distinct
point trained once, results in the order asked) and the records it caches."""
import json

import pytest

from helpers import scale, train, zoo


def spec(width, seed=0, target=None):
    return train.RunSpec(dataset="mnist1d", n_train=200, n_test=100, architecture="mlp",
                         model_kwargs={"hidden": [width, width]}, lr=0.05, batch_size=50,
                         max_epochs=1, target_train_acc=None, target_train_loss=target, seed=seed)


def test_analyze_networks_trains_each_distinct_point_once(tmp_path, monkeypatch):
    monkeypatch.setenv("BOOK_CACHE", str(tmp_path))
    points = [{"run": spec(24), "min_evals": 20}, {"run": spec(32), "min_evals": 20},
              {"run": spec(24), "min_evals": 20}]
    results = zoo.analyze_networks(points, name="t", version="1")
    assert len(list((tmp_path / "t").glob("*.json"))) == 2
    assert results[0].to_dict() == results[2].to_dict() != results[1].to_dict()
    first = results[1]
    assert len(first.esd) == 2 and [l["name"] for l in first.esd_init] == [l["name"] for l in first.esd]
    assert {"phase", "phase_shuffled", "alpha_shuffled"} <= set(first.esd[0]) and first.esd_init[0]["phase"]
    assert first.reached is False  # no target: never "reached"
    again = zoo.analyze_networks(points[1:2], name="t", version="1")[0]  # from the cache
    assert again.to_dict() == first.to_dict()


def test_a_run_that_reaches_its_target_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("BOOK_CACHE", str(tmp_path))
    result = zoo.analyze_networks([{"run": spec(24, target=10.0), "min_evals": 20}], name="t")[0]
    assert result.reached and result.history.stop_reason == "target_loss"


@pytest.mark.parametrize("name", scale.SCALES)
def test_series_share_one_recipe_and_train_to_the_target(name):
    cfg = scale.heavy_tails(name)
    series = cfg.series()
    keys = {json.dumps(s, sort_keys=True) for s in series}
    assert len(keys) == len(series) and {s["series"] for s in series} <= {"width", "depth"}
    for s in series:
        run = cfg.run_spec(s)
        assert run.target_train_loss == cfg.target_train_loss and run.target_train_acc is None
        assert (run.lr, run.batch_size, run.weight_decay) == (cfg.lr, cfg.batch_size, 0.0)
        if cfg.architecture == "mlp":
            assert run.model_kwargs["hidden"] == [s["width"]] * s["depth"] and s["width"] >= cfg.min_evals
    if name in ("tiny", "small"):
        assert {s["series"] for s in series} == {"width", "depth"} and len(cfg.series_seeds) >= 2
    base = cfg.run_spec(cfg.zoo()[0])
    same = [s for s in series if s["width"] == cfg.width and s["depth"] == cfg.depth and s["seed"] == cfg.seed]
    if same:  # the base network is also a series network: trained once
        assert cfg.run_spec(same[0]) == base
