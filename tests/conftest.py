import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets an empty sweep cache and no progress bars, so nothing leaks between tests."""
    monkeypatch.setenv("BOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BOOK_PROGRESS", "0")
    monkeypatch.delenv("BOOK_SCALE", raising=False)
    monkeypatch.delenv("BOOK_SMOKE", raising=False)
