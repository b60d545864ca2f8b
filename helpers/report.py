"""Quoting measured numbers: ``glue`` for the prose, ``scorecard`` for a chapter's reproduction
table, and ``read_scorecards`` / ``summary_table`` / ``verdict_totals`` for the book's last page.

A scorecard row is a test that could fail: it states its threshold and why (``Claim.test``), an
interval or a null where the measurement allows, and one of three verdicts. Each chapter's
``scorecard`` also writes its rows to ``settings.scorecard_dir() / "NN.json"``, which the page
*What held up?* reads back.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import __version__, settings
from helpers.sweep import write_atomic

VERDICTS = ("held", "not held", "not measured")
CHAPTERS = range(1, 7)  # the chapters whose scorecards the last page expects
_REQUIRED = ("claim", "paper", "measured", "verdict", "test")
_OPTIONAL = ("interval", "null", "reason")
_FILE_KEYS = {"chapter", "scale", "helpers_version", "rows"}


def glue(name: str, value, display: bool = False) -> None:
    """Store ``value`` under ``name`` so the prose can quote it ({glue:text}`name`).

    Uses MyST-NB's ``glue`` when it is installed (the website build); in Colab or plain Jupyter,
    where it is not, there is nothing to quote into and the call does nothing.
    """
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return
    myst_glue(name, value, display=display)


def choose(condition, if_true: str, if_false: str) -> str:
    """The phrase of a sentence that flips with a measured verdict (the prose stays in markdown).

    ``condition`` must be a bool (or a numpy bool), not a number: a comparison with NaN is
    False, so check the measurement is finite (``fmt_pct`` refuses NaN) before comparing.
    """
    if not isinstance(condition, (bool, np.bool_)):
        raise TypeError(f"condition must be a bool, got {condition!r} ({type(condition).__name__})")
    return if_true if condition else if_false


def fmt_pct(x: float, digits: int = 1) -> str:
    """A fraction as a percentage string; refuses NaN so that nothing is reported from it.

    A run that diverged records NaN accuracies for the epoch it diverged in
    (``History.diverged_epoch``), so its accuracy is refused here too.
    """
    if isinstance(x, (bool, np.bool_, str, bytes)):
        raise TypeError(f"x must be a number (a fraction), got {x!r} of type {type(x).__name__}")
    try:
        x = float(x)  # numpy and 0-d torch numbers too
    except (TypeError, ValueError) as err:
        raise TypeError(f"x must be a number (a fraction), got {x!r} of type {type(x).__name__}") from err
    if not math.isfinite(x):
        raise ValueError(f"cannot report a non-finite value ({x}): a NaN accuracy is what a run "
                         "that diverged records (History.diverged_epoch), or a measurement that "
                         "failed; nothing is quoted from it")
    return f"{100 * x:.{digits}f}%"


class Table(pd.DataFrame):
    """A DataFrame shown with every cell in full: pandas cuts cells at 50 characters in HTML,
    which would cut a row's test statement mid-sentence. Derived frames are plain DataFrames."""

    @property
    def _constructor(self):
        return pd.DataFrame

    def _repr_html_(self):
        with pd.option_context("display.max_colwidth", None):
            return super()._repr_html_()


# ---------------------------------------------------------------- one row: a test that could fail
def _text(name: str, value, optional: bool = False) -> None:
    if optional and value is None:
        return
    kind = "None or a non-empty string" if optional else "a non-empty string"
    if not isinstance(value, str):
        raise TypeError(f"{name} must be {kind}, got {value!r} of type {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} must be {kind}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class Claim:
    """One row of a reproduction scorecard: the paper's claim as tested, and how it could fail."""

    claim: str  # the paper's claim as tested here, with its threshold
    paper: str  # the paper's number or statement
    measured: str  # what this run measured
    held: bool | None  # True / False from the run; None: not measured (then `reason` is required)
    test: str = ""  # required: the threshold and why it is right, in words a student can check
    interval: str | None = None  # e.g. "95% bootstrap [0.12, 0.40]", "over 3 seeds: 0.21-0.30"
    null: str | None = None  # the same test on a null (shuffled labels, seed noise) and its result
    reason: str | None = None  # why it was not measured (only with held=None)

    def __post_init__(self):
        if not isinstance(self.test, str) or not self.test.strip():
            raise ValueError(f"test: a scorecard row must state its test (its threshold and why "
                             f"it is the right one), got {self.test!r} for claim {self.claim!r}")
        for name in ("claim", "paper", "measured"):
            _text(name, getattr(self, name))
        for name in _OPTIONAL:
            _text(name, getattr(self, name), optional=True)
        self._check_held()

    def _check_held(self) -> None:
        held = self.held
        if held is not None and not isinstance(held, (bool, np.bool_)):
            raise TypeError(f"held must be True, False (a Python or numpy bool) or None "
                            f"(not measured), got {held!r} of type {type(held).__name__}")
        object.__setattr__(self, "held", None if held is None else bool(held))
        if self.held is None and self.reason is None:
            raise ValueError(f"reason is required when held=None (not measured): "
                             f"say why {self.claim!r} was not measured")
        if self.held is not None and self.reason is not None:
            raise ValueError(f"reason is only for rows not measured (held=None), "
                             f"got held={self.held} with reason {self.reason!r}")

    @property
    def verdict(self) -> str:
        """'held', 'not held' or 'not measured'."""
        return "not measured" if self.held is None else ("held" if self.held else "not held")

    def row(self) -> dict:
        """The row as written to the chapter's JSON: optional fields only where present."""
        row = {"claim": self.claim, "paper": self.paper, "measured": self.measured,
               "verdict": self.verdict, "test": self.test}
        row.update({k: getattr(self, k) for k in _OPTIONAL if getattr(self, k) is not None})
        return row


# ---------------------------------------------------------------- a chapter's scorecard
def _check_card(claims, chapter) -> None:
    if isinstance(chapter, bool) or not isinstance(chapter, int):
        raise TypeError(f"chapter must be an int from 1 to 99, got {chapter!r}")
    if not 1 <= chapter <= 99:
        raise ValueError(f"chapter must be an int from 1 to 99, got {chapter!r}")
    if not isinstance(claims, (list, tuple)) or not all(isinstance(c, Claim) for c in claims):
        raise TypeError(f"claims must be a list of Claim, got {claims!r}")
    if not claims:
        raise ValueError("claims must hold at least one Claim, got an empty list")
    texts = [c.claim for c in claims]
    if len(set(texts)) < len(texts):
        raise ValueError(f"claims: two rows state the same claim: {texts}")


def scorecard(claims: list[Claim], scale: str, chapter: int) -> pd.DataFrame:
    """The chapter's reproduction scorecard, one row per claim; also written to
    ``settings.scorecard_dir() / f"{chapter:02d}.json"`` for the page *What held up?*."""
    scale = settings.scale(scale)
    _check_card(claims, chapter)
    rows = [c.row() for c in claims]
    payload = {"chapter": chapter, "scale": scale, "helpers_version": __version__, "rows": rows}
    text = json.dumps(payload, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    path = settings.scorecard_dir() / f"{chapter:02d}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda f: f.write(text))
    columns = list(_REQUIRED) + [k for k in _OPTIONAL if any(k in r for r in rows)]
    card = pd.DataFrame(rows, columns=columns).fillna("").set_index("claim")
    return Table(card.rename(columns={"measured": f"measured ({scale} scale)"}))


# ---------------------------------------------------------------- reading them back
def _check_row(path: Path, i: int, row) -> None:
    if not isinstance(row, dict):
        raise ValueError(f"{path}: row {i} is not an object")
    keys = set(row)
    if not set(_REQUIRED) <= keys <= set(_REQUIRED + _OPTIONAL):
        raise ValueError(f"{path}: row {i} has keys {sorted(keys)}; needs {list(_REQUIRED)}, "
                         f"may have {list(_OPTIONAL)}")
    if not all(isinstance(v, str) and v.strip() for v in row.values()):
        raise ValueError(f"{path}: row {i} has a value that is not a non-empty string")
    if row["verdict"] not in VERDICTS:
        raise ValueError(f"{path}: row {i} has verdict {row['verdict']!r}, not one of {VERDICTS}")
    if ("reason" in row) != (row["verdict"] == "not measured"):
        raise ValueError(f"{path}: row {i}: a reason goes with, and only with, 'not measured'")


def _check_file(path: Path, card) -> None:
    if not isinstance(card, dict) or set(card) != _FILE_KEYS:
        keys = sorted(card) if isinstance(card, dict) else type(card).__name__
        raise ValueError(f"{path}: expected the keys {sorted(_FILE_KEYS)}, got {keys}")
    if card["chapter"] != int(path.stem) or isinstance(card["chapter"], bool):
        raise ValueError(f"{path}: chapter {card['chapter']!r} does not match the file name")
    if card["scale"] not in settings.SCALES or not isinstance(card["helpers_version"], str):
        raise ValueError(f"{path}: unknown scale {card['scale']!r} or helpers_version")
    if not isinstance(card["rows"], list) or not card["rows"]:
        raise ValueError(f"{path}: rows must be a non-empty list")
    for i, row in enumerate(card["rows"]):
        _check_row(path, i, row)


def read_scorecards(directory: str | os.PathLike | None = None) -> list[dict]:
    """Every chapter's scorecard, sorted by chapter: ``NN.json`` in ``directory`` (default
    ``settings.scorecard_dir()``). A damaged file raises a ValueError naming it; none: []."""
    directory = Path(directory) if directory is not None else settings.scorecard_dir()
    cards = []
    for path in sorted(directory.glob("[0-9][0-9].json")):
        try:
            card = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: not a readable scorecard ({e}); rebuild its chapter") from e
        _check_file(path, card)
        cards.append(card)
    return cards


def summary_table(scorecards: list[dict]) -> pd.DataFrame:
    """One row per claim of every chapter: chapter, claim, verdict, test, interval, null, measured
    (and the reason, where a row was not measured)."""
    rows = [{"chapter": card["chapter"], **row} for card in scorecards for row in card["rows"]]
    columns = ["chapter", "claim", "verdict", "test", "interval", "null", "measured"]
    columns += ["reason"] if any("reason" in r for r in rows) else []
    return Table(pd.DataFrame(rows, columns=columns).fillna(""))


def verdict_totals(scorecards: list[dict]) -> pd.DataFrame:
    """Per chapter, how many rows held, did not hold, were not measured; and an all-chapters row."""
    counts = {card["chapter"]: [sum(r["verdict"] == v for r in card["rows"]) for v in VERDICTS]
              for card in scorecards}
    totals = pd.DataFrame.from_dict(counts, orient="index", columns=list(VERDICTS), dtype=int)
    totals.loc["all chapters"] = totals.sum() if len(totals) else 0
    totals["total"] = totals.sum(axis=1)
    return Table(totals.rename_axis("chapter"))


def provenance_notes(scorecards: list[dict], chapters=CHAPTERS, directory=None) -> list[str]:
    """Sentences for the last page: the scale(s) and helpers version(s) the scorecards come from,
    and a warning for mixed scales or versions, for each expected chapter with no file, or for
    no scorecards at all (then: how to produce them; ``directory`` is only named there)."""
    if not scorecards:
        folder = directory if directory is not None else settings.scorecard_dir()
        return [f"Warning: no scorecards were found in `{folder}`. Run the chapters first (each "
                f"writes its scorecard as it finishes), or build the whole book with `make book`; "
                f"then run this page again."]
    notes = [_same_or_mixed(scorecards, "scale", "scale"),
             _same_or_mixed(scorecards, "helpers_version", "helpers version")]
    built = {card["chapter"] for card in scorecards}
    return notes + [f"Warning: Chapter {n} has not been built in this build: its rows are missing."
                    for n in chapters if n not in built]


def _same_or_mixed(scorecards: list[dict], key: str, label: str) -> str:
    by_value = {}
    for card in scorecards:
        by_value.setdefault(card[key], []).append(str(card["chapter"]))
    if len(by_value) == 1:
        return f"Every scorecard comes from the same {label}: {next(iter(by_value))}."
    parts = "; ".join(f"{value} (chapter{'s' * (len(c) > 1)} {', '.join(c)})"
                      for value, c in by_value.items())
    return (f"Warning: the scorecards come from different {label}s: {parts}. "
            f"Compare their verdicts with care.")
