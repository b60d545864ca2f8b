"""Scorecard rows state how they could fail; chapters write them to JSON; the last page reads them."""
import json

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

import helpers
from conftest import ROOT
from helpers import report
from helpers.report import Claim

ROW = dict(claim="Random labels are fitted (train accuracy >= 99%)", paper="100% on CIFAR-10",
           measured="100.0%", held=True, test="99%: the paper reports zero training error")


def claim(**changes):
    return Claim(**{**ROW, **changes})


@pytest.fixture
def scorecards(tmp_path, monkeypatch):
    folder = tmp_path / "scorecards"
    monkeypatch.setenv("BOOK_SCORECARDS", str(folder))
    return folder


def two_chapters():
    """Chapter 2 at tiny scale (held, not held) and Chapter 5 at small (held, not measured)."""
    report.scorecard([claim(claim="Alpha claim ≥ 0.5", interval="over 3 seeds: 0.6-0.7"),
                      claim(claim="Beta claim", held=False, null="shuffled labels: 0.1 (fails)")],
                     "tiny", chapter=2)
    report.scorecard([claim(claim="Gamma claim"),
                      claim(claim="Delta claim", held=None, reason="needs the network")],
                     "small", chapter=5)
    return ["Alpha claim ≥ 0.5", "Beta claim", "Gamma claim", "Delta claim"]


# ---------------------------------------------------------------- Claim
@pytest.mark.parametrize("test", [None, "", "   "])
def test_a_row_without_a_test_is_refused(test):
    changes = {} if test is None else {"test": test}
    row = {k: v for k, v in ROW.items() if k != "test"}
    with pytest.raises(ValueError, match="must state its test"):
        Claim(**row, **changes)


@pytest.mark.parametrize("held", [float("nan"), 0.5, "yes", 1, 0, np.float64(1.0), np.nan])
def test_held_that_is_not_a_bool_is_refused_naming_held(held):
    with pytest.raises(TypeError, match="held") as info:
        claim(held=held)
    assert repr(held) in str(info.value)


@pytest.mark.parametrize("value", [np.bool_(True), np.bool_(False), np.array(3) > 2])
def test_numpy_bools_are_accepted_and_converted(value):
    row = claim(held=value)
    assert type(row.held) is bool and row.held == bool(value)


def test_not_measured_needs_a_reason_and_only_it_has_one():
    with pytest.raises(ValueError, match="reason"):
        claim(held=None)
    with pytest.raises(ValueError, match="reason"):
        claim(held=True, reason="offline")
    assert claim(held=None, reason="offline").verdict == "not measured"


def test_verdicts():
    assert [claim(held=h).verdict for h in (True, False)] == ["held", "not held"]


@pytest.mark.parametrize("field, value, error", [("claim", "", ValueError), ("paper", None, TypeError),
                                                 ("measured", 0.5, TypeError), ("interval", "", ValueError),
                                                 ("null", 3, TypeError)])
def test_text_fields_must_be_non_empty_strings(field, value, error):
    with pytest.raises(error, match=field):
        claim(**{field: value})


def test_claim_is_keyword_only():
    with pytest.raises(TypeError):
        Claim("c", "p", "m", True, "t")


# ---------------------------------------------------------------- scorecard and its JSON
def test_scorecard_writes_the_schema_exactly(scorecards):
    card = report.scorecard([claim(interval="95% bootstrap [0.9, 1.0]"),
                             claim(claim="Not run here", held=None, reason="offline")], "small", chapter=3)
    data = json.loads((scorecards / "03.json").read_text(encoding="utf-8"))
    assert data == {"chapter": 3, "scale": "small", "helpers_version": helpers.__version__, "rows": [
        {**{k: v for k, v in ROW.items() if k != "held"}, "verdict": "held",
         "interval": "95% bootstrap [0.9, 1.0]"},
        {**{k: v for k, v in ROW.items() if k != "held"}, "claim": "Not run here",
         "verdict": "not measured", "reason": "offline"}]}
    assert list(card.columns) == ["paper", "measured (small scale)", "verdict", "test", "interval", "reason"]
    assert card.index.name == "claim" and card.loc["Not run here", "interval"] == ""
    assert list(scorecards.iterdir()) == [scorecards / "03.json"]  # no temporary file left


def test_scorecard_shows_interval_and_null_columns_only_where_a_row_has_one(scorecards):
    long_test = "a threshold, and a reason for it that runs well past fifty characters"
    card = report.scorecard([claim(test=long_test)], "tiny", chapter=1)
    assert list(card.columns) == ["paper", "measured (tiny scale)", "verdict", "test"]
    assert long_test in card._repr_html_()  # pandas would cut it at 50 characters


def test_the_same_run_writes_the_same_bytes(scorecards):
    rows = [claim(claim="Alpha ≥ 0.5", null="shuffled: 0.1"), claim(held=False)]
    report.scorecard(rows, "tiny", chapter=7)
    first = (scorecards / "07.json").read_bytes()
    report.scorecard(list(rows), "tiny", chapter=7)
    assert (scorecards / "07.json").read_bytes() == first
    assert "≥".encode() in first  # written as UTF-8, not escaped


@pytest.mark.parametrize("kwargs, error, name", [
    (dict(chapter=0), ValueError, "chapter"), (dict(chapter=100), ValueError, "chapter"),
    (dict(chapter=2.0), TypeError, "chapter"), (dict(chapter=True), TypeError, "chapter"),
    (dict(claims=[]), ValueError, "claims"), (dict(claims=[ROW]), TypeError, "claims"),
    (dict(claims=[claim(), claim()]), ValueError, "claims"), (dict(scale="huge"), ValueError, "scale")])
def test_scorecard_refuses_bad_arguments(scorecards, kwargs, error, name):
    args = {"claims": [claim()], "scale": "tiny", "chapter": 1, **kwargs}
    with pytest.raises(error, match=name):
        report.scorecard(**args)
    assert not scorecards.exists()


# ---------------------------------------------------------------- reading them back
def test_read_scorecards_round_trip_sorted_by_chapter(scorecards):
    claims = two_chapters()
    cards = report.read_scorecards()
    assert [c["chapter"] for c in cards] == [2, 5]
    assert [r["claim"] for c in cards for r in c["rows"]] == claims
    assert report.read_scorecards(scorecards) == cards
    assert report.read_scorecards(scorecards / "nowhere") == []


@pytest.mark.parametrize("damage", [
    lambda d: "{not json",
    lambda d: json.dumps({**d, "rows": [{**d["rows"][0], "verdict": "yes"}]}),
    lambda d: json.dumps({k: v for k, v in d.items() if k != "scale"}),
    lambda d: json.dumps({**d, "chapter": 4}),
    lambda d: json.dumps({**d, "rows": [{k: v for k, v in d["rows"][0].items() if k != "test"}]}),
    lambda d: json.dumps({**d, "rows": [{**d["rows"][0], "reason": "why"}]})])
def test_a_damaged_scorecard_is_named(scorecards, damage):
    report.scorecard([claim()], "tiny", chapter=2)
    path = scorecards / "02.json"
    path.write_text(damage(json.loads(path.read_text())), encoding="utf-8")
    with pytest.raises(ValueError, match="02.json"):
        report.read_scorecards()


def test_summary_and_totals_of_two_chapters(scorecards):
    claims = two_chapters()
    cards = report.read_scorecards()
    summary = report.summary_table(cards)
    assert list(summary.columns) == ["chapter", "claim", "verdict", "test", "interval", "null",
                                     "measured", "reason"]
    assert list(summary["claim"]) == claims and list(summary["chapter"]) == [2, 2, 5, 5]
    assert list(summary["verdict"]) == ["held", "not held", "held", "not measured"]
    assert list(summary["interval"]) == ["over 3 seeds: 0.6-0.7", "", "", ""]
    totals = report.verdict_totals(cards)
    assert totals.to_dict(orient="index") == {
        2: {"held": 1, "not held": 1, "not measured": 0, "total": 2},
        5: {"held": 1, "not held": 0, "not measured": 1, "total": 2},
        "all chapters": {"held": 2, "not held": 1, "not measured": 1, "total": 4}}


def test_provenance_notes_warn_of_mixed_scales_and_missing_chapters(scorecards):
    two_chapters()
    notes = report.provenance_notes(report.read_scorecards())
    assert any("different scales" in n and "tiny (chapter 2); small (chapter 5)" in n for n in notes)
    assert any(f"same helpers version: {helpers.__version__}" in n for n in notes)
    missing = [n for n in notes if "has not been built" in n]
    assert missing == [f"Warning: Chapter {n} has not been built in this build: its rows are missing."
                       for n in (1, 3, 4, 6)]
    assert "no scorecards were found" in report.provenance_notes([])[0]


# ---------------------------------------------------------------- the page What held up?
def execute_page(tmp_path):
    nb = nbformat.read(ROOT / "book" / "what_held_up.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.get("name") == "stderr"]  # the site build would warn
    return "\n".join([o.get("text", "") for o in outputs] +
                     [v for o in outputs for v in o.get("data", {}).values() if isinstance(v, str)])


def test_page_lists_every_claim_and_warns_of_missing_chapters(scorecards, tmp_path):
    claims = two_chapters()
    text = execute_page(tmp_path)
    for c in claims:
        assert c in text
    assert "Chapter 4 has not been built in this build: its rows are missing." in text
    assert "different scales" in text and "needs the network" in text


def test_page_with_no_scorecards_says_so(scorecards, tmp_path):
    scorecards.mkdir()
    text = execute_page(tmp_path)
    assert "no scorecards were found" in text and "make book" in text


def test_choose_picks_the_phrase_of_a_verdict_and_refuses_a_number():
    import numpy as np

    assert report.choose(True, "within", "beyond") == "within"
    assert report.choose(np.bool_(False), "within", "beyond") == "beyond"
    for bad in (float("nan"), 1, 0.5, None):
        with pytest.raises(TypeError, match="condition must be a bool"):
            report.choose(bad, "a", "b")
