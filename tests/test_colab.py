"""The Colab path: every chapter runs after nothing but ``pip install <this repository>``.

A fresh virtual environment holds only what Colab preinstalls (torch, numpy, matplotlib, seaborn,
ipywidgets, tqdm, scipy and ipykernel, its kernel; no myst-nb, no jupyter-book). The repository's
tracked files are then installed into it the way the chapter's first cell does on Colab (a normal,
non-editable ``pip install``), so the test fails if pyproject.toml forgets a dependency the chapter
imports. Finally each chapter is executed at ``tiny`` scale by a kernel running that environment's
Python, from a working directory outside the repository, and must import the *installed* package.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
KERNEL_NAME = "colab-fresh-venv"

# What Colab preinstalls, as far as the book is concerned. torch is pinned: pip then takes the
# local CPU wheel instead of downloading a multi-GB CUDA build.
COLAB_PREINSTALLED = ["torch==2.13.0", "numpy", "matplotlib", "seaborn", "ipywidgets", "tqdm", "scipy",
                      "ipykernel"]
NOT_ON_COLAB = ["myst_nb", "jupyter_book"]

MARKER = "HELPERS_FILE="

pytestmark = pytest.mark.slow


def _clean_env(venv: Path | None = None) -> dict[str, str]:
    """The environment for subprocesses: nothing pointing at the repository or the outer venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:])


def _run(cmd: list[str], what: str, env: dict[str, str], cwd: Path, timeout: int = 1800):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"{what} failed (exit {proc.returncode}): {' '.join(map(str, cmd))}\n"
                    f"--- stderr (tail) ---\n{_tail(proc.stderr)}\n--- stdout (tail) ---\n{_tail(proc.stdout, 15)}",
                    pytrace=False)
    return proc


def _copy_repository(dest: Path) -> list[str]:
    """Copy what ``git+https://...`` would fetch: the tracked files (working-tree contents)."""
    files: list[str] | None = None
    if shutil.which("git"):
        proc = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
        if proc.returncode == 0 and proc.stdout:
            files = [f for f in proc.stdout.split("\0") if f]
    if files is None:  # no git (e.g. an sdist or a tarball): the package, its metadata and its readme
        files = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "helpers").rglob("*.py"))]
        files += [f for f in ("pyproject.toml", "README.md") if (ROOT / f).exists()]
    copied = []
    for rel in files:
        src = ROOT / rel
        if not src.is_file():  # deleted in the working tree but not yet in git
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
        copied.append(rel)
    return copied


@pytest.fixture(scope="module")
def colab_venv(tmp_path_factory):
    """A fresh venv with Colab's preinstalled packages, then the repository pip-installed into it."""
    base = tmp_path_factory.mktemp("colab")
    venv = base / "venv"
    python = venv / "bin" / "python"
    env = _clean_env(venv)

    t0 = time.perf_counter()
    _run([sys.executable, "-m", "venv", str(venv)], "creating the venv", _clean_env(), base)
    _run([str(python), "-m", "pip", "install", "--quiet", *COLAB_PREINSTALLED],
         "installing Colab's preinstalled packages", env, base)
    t_colab = time.perf_counter() - t0

    repo = base / "repo" / "why-deep-networks-generalize"
    repo.mkdir(parents=True)
    copied = _copy_repository(repo)
    assert "pyproject.toml" in copied, f"pyproject.toml was not copied (copied: {copied})"
    t1 = time.perf_counter()
    _run([str(python), "-m", "pip", "install", "--quiet", str(repo)],
         "pip install <the repository> (as the chapter's first cell does on Colab)", env, base)
    t_repo = time.perf_counter() - t1

    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   "locating the venv's site-packages", env, base).stdout.strip()
    print(f"\n[colab] venv + Colab packages: {t_colab:.1f}s; pip install <repo> ({len(copied)} tracked files): "
          f"{t_repo:.1f}s; total {t_colab + t_repo:.1f}s", flush=True)
    return {"venv": venv, "python": python, "site_packages": Path(purelib), "env": env, "base": base}


def test_fresh_venv_has_no_book_tooling(colab_venv):
    """Colab has no myst-nb or jupyter-book, so ``helpers.report.glue`` runs as its no-op there too."""
    for module in NOT_ON_COLAB:
        proc = subprocess.run(
            [str(colab_venv["python"]), "-c",
             f"import importlib.util,sys; sys.exit(importlib.util.find_spec({module!r}) is not None)"],
            capture_output=True, text=True, env=colab_venv["env"], cwd=colab_venv["base"])
        assert proc.returncode == 0, (f"{module} is importable in the fresh venv, but Colab does not have it: "
                                      f"some dependency pulls it in.\n{_tail(proc.stderr)}")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_runs_on_the_colab_path(chapter, colab_venv, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    python, site_packages = colab_venv["python"], colab_venv["site_packages"]

    # A kernelspec that runs the fresh venv's Python, found through JUPYTER_PATH.
    jupyter_path = tmp_path / "jupyter"
    spec_dir = jupyter_path / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (fresh Colab-like venv)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))

    # The kernel inherits the test process's environment.
    for name in ("PYTHONPATH", "PYTHONHOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHONNOUSERSITE", "1")
    monkeypatch.setenv("VIRTUAL_ENV", str(colab_venv["venv"]))
    monkeypatch.setenv("PATH", colab_venv["env"]["PATH"])
    monkeypatch.setenv("BOOK_SCALE", "tiny")
    monkeypatch.setenv("BOOK_PROGRESS", "0")
    monkeypatch.setenv("BOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mplconfig"))
    monkeypatch.setenv("BOOK_SCORECARDS", str(tmp_path / "scorecards"))
    monkeypatch.delenv("MPLBACKEND", raising=False)

    workdir = tmp_path / "cwd"  # not the repository, so `import helpers` cannot find the checkout
    workdir.mkdir()

    nb = nbformat.read(chapter, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(f"import helpers\nprint({MARKER!r} + helpers.__file__)"))
    client = NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=600,
                            resources={"metadata": {"path": str(workdir)}})
    t0 = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as err:
        pytest.fail(f"{chapter.name} failed on the Colab path (fresh venv, BOOK_SCALE=tiny):\n{err}", pytrace=False)
    finally:
        print(f"\n[colab] {chapter.name} execution at tiny scale: {time.perf_counter() - t0:.1f}s", flush=True)

    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    errors = [(i, o) for i, c in enumerate(code_cells) for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, "code cells with an error output:\n" + "\n\n".join(
        f"code cell {i}: {o.ename}: {o.evalue}" for i, o in errors)
    not_run = [i for i, c in enumerate(code_cells) if c.get("execution_count") is None]
    assert not not_run, f"code cells that did not run: {not_run}"

    printed = "".join(o.get("text", "") for o in code_cells[-1].outputs if o.output_type == "stream")
    lines = [line[len(MARKER):] for line in printed.splitlines() if line.startswith(MARKER)]
    assert lines, f"the appended cell printed no helpers.__file__; its output was: {printed!r}"
    helpers_file = Path(lines[0]).resolve()
    assert helpers_file.is_relative_to(site_packages.resolve()), (
        f"the kernel imported helpers from {helpers_file}, not from the fresh venv's site-packages "
        f"({site_packages}): the installed package was not the one tested")
    assert not helpers_file.is_relative_to(ROOT), f"helpers was imported from the repository ({helpers_file})"
