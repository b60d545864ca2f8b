import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets an empty sweep cache and scorecard folder, no progress bars and the default
    thread policy, so nothing leaks between tests."""
    monkeypatch.setenv("BOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BOOK_SCORECARDS", str(tmp_path / "scorecards"))
    monkeypatch.setenv("BOOK_PROGRESS", "0")
    monkeypatch.delenv("BOOK_SCALE", raising=False)
    monkeypatch.delenv("BOOK_THREADS", raising=False)
