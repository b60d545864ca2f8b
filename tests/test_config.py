"""The project's own files agree with each other: pins, the repository URL, notebooks and sources."""
import json
import re

import nbformat
import pytest
import yaml

from conftest import ROOT


def _pins(lines):
    pins = {}
    for line in lines:
        line = line.strip().lstrip("- ").strip()
        if line and not line.startswith(("#", "--", "-r")) and "==" in line:
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_environment_yml_and_requirements_pin_the_same_versions():
    requirements = _pins((ROOT / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert requirements == _pins(pip_section)
    assert requirements["torch"] == "2.13.0" and requirements["jupyter-book"] == "1.0.4.post1"
    for name in ("numpy", "matplotlib", "seaborn", "ipywidgets", "tqdm", "scipy", "mnist1d", "pytest", "playwright"):
        assert name in requirements, f"{name} is not pinned in requirements.txt"


def test_pyproject_declares_lower_bounds_only():
    text = (ROOT / "pyproject.toml").read_text()
    deps = re.search(r"dependencies = \[(.*?)\]", text, re.S).group(1)
    assert "==" not in deps and '"torch>=' in deps


def test_every_chapter_installs_from_the_repository_named_in_config():
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        install = [c.source for c in nb.cells if c.cell_type == "code" and "google.colab" in c.source]
        assert install and f"git+{url}" in install[0], f"{path.name}: the Colab install cell must use {url}"
        colab_links = re.findall(r"colab\.research\.google\.com/github/([^)\s]+)", nb.cells[0].source)
        assert colab_links == [f"{url.removeprefix('https://github.com/')}/blob/main/book/{path.name}"]


def test_notebooks_are_committed_without_outputs_and_match_their_sources():
    import importlib.util
    spec = importlib.util.spec_from_file_location("nbgen", ROOT / "tools" / "nbgen.py")
    nbgen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nbgen)
    notebooks = sorted((ROOT / "book").glob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell["outputs"] and cell["execution_count"] is None, f"{path.name} has outputs"
        source = ROOT / "book" / "src" / (path.stem + ".py")
        assert source.exists(), f"{path.name} has no source in book/src"
        cells = [c.source for c in nbgen.parse(source.read_text())]
        assert cells == ["".join(c["source"]) for c in nb["cells"]], \
            f"{path.name} is out of date: run python tools/nbgen.py {source.relative_to(ROOT)} {path.relative_to(ROOT)}"


def test_table_of_contents_lists_existing_files_and_ci_runs_the_readme_command():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for c in toc["chapters"]]
    for f in files:
        assert any((ROOT / f"{f}{ext}").exists() for ext in (".md", ".ipynb")), f"_toc.yml names missing {f}"
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme


# Chapters that meet DESIGN.md's "predict, then check" standard (issues 12-14); the others
# are listed in their own issues and join this list when they do.
PREDICT_CHAPTERS = ("01_randomization_tests", "02_normalized_loss", "03_gsnr", "04_bad_minima", "05_heavy_tails", "06_which_measure")


@pytest.mark.parametrize("chapter", PREDICT_CHAPTERS)
def test_chapter_has_two_predict_then_check_prompts(chapter):
    """Each prompt is a MyST admonition of class 'predict' that comes before a code cell (the
    check), so the reader predicts before the run shows the answer."""
    cells = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text())["cells"]
    prompts = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown"
               and ":class: predict" in "".join(c["source"])]
    assert len(prompts) >= 2, f"{chapter}: {len(prompts)} predict prompts"
    for i in prompts:
        assert any(c["cell_type"] == "code" for c in cells[i + 1:]), f"{chapter}: prompt {i} is last"
