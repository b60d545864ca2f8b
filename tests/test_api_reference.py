"""The API reference page (book/src/api_reference.py) covers the whole package: every public
module has a section, every public function and class is shown with a docstring, and the package
docstrings name every module. The page's own listing functions are run here, not the notebook."""
import importlib
import importlib.util
import inspect
import pkgutil
import re

import pytest

import helpers
from conftest import ROOT

SOURCE = ROOT / "book" / "src" / "api_reference.py"

# Public members without a docstring in modules that this test's author may not edit; each name
# here is xfailed with its reason (none at present: every public member has a docstring).
KNOWN_UNDOCUMENTED = {}


def _cells():
    spec = importlib.util.spec_from_file_location("nbgen", ROOT / "tools" / "nbgen.py")
    nbgen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nbgen)
    return nbgen.parse(SOURCE.read_text())


@pytest.fixture(scope="module")
def page():
    """The namespace of the page's definitions cell (the one that defines public_members)."""
    cells = [c for c in _cells() if c.cell_type == "code" and "def public_members" in c.source]
    assert len(cells) == 1, "the page needs exactly one cell that defines public_members"
    namespace = {}
    exec(compile(cells[0].source, str(SOURCE), "exec"), namespace)
    return namespace


def _modules():
    """Every public module of helpers, found independently of the page."""
    names = [helpers.__name__]
    for info in pkgutil.walk_packages(helpers.__path__, "helpers."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def _members(module):
    """Public functions and classes defined in the module, found independently of the page."""
    return sorted(n for n, o in vars(module).items() if not n.startswith("_")
                  and (inspect.isfunction(o) or inspect.isclass(o)) and o.__module__ == module.__name__)


MODULES = _modules()
MEMBERS = [(m, n) for m in MODULES for n in _members(importlib.import_module(m))]


def test_the_known_modules_are_found():
    for name in ("settings", "data", "models", "train", "scale", "sweep", "zoo", "interpolation",
                 "plots", "widgets", "report", "safety", "losses", "metrics", "metrics.normalized",
                 "metrics.gsnr", "metrics.landscape", "metrics.esd", "metrics.norms", "metrics.rank",
                 "metrics.all_measures"):
        assert f"helpers.{name}" in MODULES


def test_every_module_has_a_heading_and_a_cell_that_shows_it():
    cells = _cells()
    headings = [line[3:].strip() for c in cells if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("## ")]
    shown = [m for c in cells if c.cell_type == "code"
             for m in re.findall(r'^show_module\("([\w.]+)"\)', c.source, re.M)]
    modules = [h for h in headings if h.startswith("helpers")]
    assert sorted(modules) == MODULES, "a module of helpers has no section on the API page (or a section names no module)"
    assert shown == modules, "each module's heading must be followed by its show_module cell, in the same order"
    for i, c in enumerate(cells):  # the show_module cell is the next code cell after the heading
        for line in c.source.splitlines() if c.cell_type == "markdown" else ():
            if line.startswith("## helpers"):
                nxt = [d for d in cells[i + 1:] if d.cell_type == "code" and "show_module(" in d.source][0]
                assert f'show_module("{line[3:].strip()}")' in nxt.source


def test_the_page_lists_the_same_modules_and_members(page):
    assert sorted(page["public_modules"]()) == MODULES
    for name in MODULES:
        module = importlib.import_module(name)
        listed = [n for n, _ in page["public_members"](module)]
        assert sorted(listed) == _members(module), name
        assert len(listed) == len(set(listed))


@pytest.mark.parametrize("module", MODULES)
def test_every_module_has_a_docstring(module):
    assert (inspect.getdoc(importlib.import_module(module)) or "").strip(), f"{module} has no docstring"


@pytest.mark.parametrize("module,name", MEMBERS, ids=[f"{m}.{n}" for m, n in MEMBERS])
def test_every_public_member_has_a_docstring(module, name):
    if f"{module}.{name}" in KNOWN_UNDOCUMENTED:
        pytest.xfail(KNOWN_UNDOCUMENTED[f"{module}.{name}"])
    obj = getattr(importlib.import_module(module), name)
    assert (inspect.getdoc(obj) or "").strip(), f"{module}.{name} has no docstring"


def test_member_markdown_fences_every_docstring(page):
    """A docstring is shown inside a fence longer than any backtick run in it, so no markup in
    it can reach the page's parser."""
    def tricky():
        """Has ``` a fence ```` and *stars* and `backquotes` and $math$ and <b>tags</b>."""
    text = page["member_markdown"]("tricky", tricky)
    assert "`````text\nHas ``` a fence ```` and" in text
    assert text.count("`````") == 2


def test_the_measure_table_covers_zoo_measures():
    source = SOURCE.read_text()
    assert "zoo.MEASURES" in source
    for column in ('"name"', '"label"', '"source"', '"claimed direction"', '"family"', '"description"'):
        assert column in source


def test_package_docstrings_name_every_module():
    for package in ("helpers", "helpers.metrics"):
        doc = importlib.import_module(package).__doc__
        children = [m for m in MODULES if m.startswith(package + ".") and m.count(".") == package.count(".") + 1]
        for child in children:
            short = child.rsplit(".", 1)[1]
            assert f"``{short}``" in doc, f"the docstring of {package} does not name {short}"
