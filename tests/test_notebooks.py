"""Every chapter executes top to bottom at ``tiny`` scale, and in the paper profile's smoke mode
(the paper's networks on data of the paper's shape, a couple of epochs, no GPU or download)."""
import time

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

# the numbered chapters, and the appendix pages that train and measure (not what_held_up: it reads them)
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")) + sorted((ROOT / "book").glob("appendix_*.ipynb"))


def execute(path, monkeypatch, tmp_path, **env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    return nb, time.perf_counter() - start


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_executes_at_tiny_scale(path, monkeypatch, tmp_path):
    nb, seconds = execute(path, monkeypatch, tmp_path, BOOK_SCALE="tiny")
    print(f"{path.name} at tiny scale: {seconds:.1f} s")
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "tiny scale" in text


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_paper_profile_smoke(path, monkeypatch, tmp_path):
    nb, seconds = execute(path, monkeypatch, tmp_path, BOOK_SCALE="paper-smoke")
    print(f"{path.name} paper smoke: {seconds:.1f} s")
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "paper-smoke scale" in text
