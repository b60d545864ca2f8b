# %% [markdown]
# # API reference
#
# [![Open In Colab](images/colab-badge.svg)](https://colab.research.google.com/github/why-deep-networks-generalize/book/blob/main/book/api_reference.ipynb)
#
# Every public module, function and class of the package `helpers`, with its signature and its docstring.
# Nothing on this page is typed in: it is read from the package when the page runs, so it always describes the `helpers` that built the book.
# A measure's docstring gives the equation it implements and the paper it comes from.
#
# *Public* means: a name without a leading underscore, defined in that module (not imported into it).
# Module-level constants (names in capitals) are listed with their values, and with the comment that explains them where the source has one.
# Each docstring is shown as it is written, in plain text.
#
# To read the same thing in a Python session: `help(helpers.zoo)`, or `helpers.zoo.measure_table?` in Jupyter.

# %%
import sys

# Colab: install helpers from the book's repository
if "google.colab" in sys.modules:
    repo = "git+https://github.com/why-deep-networks-generalize/book"
    %pip install --quiet "why-deep-networks-generalize @ {repo}"

# %% tags=remove-input
# How this page reads the package: one function lists a module's public members, another
# shows them. tests/test_api_reference.py calls public_members and public_modules directly.
import ast
import importlib
import inspect
import pkgutil
import re

from IPython.display import Markdown, display

import helpers


def public_modules(package=helpers):
    """Every public module of ``package`` and its subpackages, the package itself first."""
    names = [package.__name__]
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names[:1] + sorted(names[1:])


def public_members(module):
    """The module's public functions and classes, in the order of its source: a name without
    a leading underscore whose object was defined in this module (``obj.__module__``)."""
    if isinstance(module, str):
        module = importlib.import_module(module)
    return [(name, obj) for name, obj in vars(module).items()
            if not name.startswith("_")
            and (inspect.isfunction(obj) or inspect.isclass(obj))
            and getattr(obj, "__module__", None) == module.__name__]


def public_constants(module):
    """Module-level names in capitals assigned in the module's own source: (name, value, comment).
    The comment is the one on the assignment's line, or the comment lines just above it."""
    if isinstance(module, str):
        module = importlib.import_module(module)
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return []
    lines = source.splitlines()
    found = []
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        for target in targets:
            name = getattr(target, "id", "")
            if not name or name.startswith("_") or name.upper() != name or not hasattr(module, name):
                continue
            comment = _trailing_comment(lines[node.end_lineno - 1])
            above, i = [], node.lineno - 2
            while i >= 0 and lines[i].lstrip().startswith("#") and not lines[i].lstrip().startswith("# ---"):
                above.insert(0, lines[i].lstrip()[1:].strip())
                i -= 1
            text = " ".join(above + ([comment] if comment else []))
            found.append((name, getattr(module, name), text))
    return found


def _trailing_comment(line):
    """The comment at the end of a line of code ('' if none; '#' inside a string is skipped)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return line[i + 1:].strip()
    return ""


def _short(value, limit=110):
    """A one-line, length-limited repr; classes by their qualified name."""
    if inspect.isclass(value):
        return f"{value.__module__.replace('torch.nn.modules.', 'nn.')}.{value.__qualname__}"
    if isinstance(value, tuple) and value and all(inspect.isclass(v) for v in value):
        text = "(" + ", ".join(f"nn.{v.__qualname__}" if v.__module__.startswith("torch.nn")
                               else v.__qualname__ for v in value) + ")"
    else:
        text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 5] + " ...)"


def _fence(text, info="text"):
    """``text`` as a fenced code block whose fence is longer than any run of backticks in it,
    so no docstring can close the block or be read as markup."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}\n"


class _Raw:
    """An annotation written as a string (``from __future__ import annotations``), shown bare."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


def _bare(annotation):
    return _Raw(annotation) if isinstance(annotation, str) else annotation


def _signature(obj, width=88):
    """``name(parameters) -> return``, on one line, or one parameter a line if it is long."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return obj.__name__
    params = [p.replace(annotation=_bare(p.annotation)) for p in sig.parameters.values()]
    returns = inspect.Signature.empty if inspect.isclass(obj) else _bare(sig.return_annotation)
    sig = sig.replace(parameters=params, return_annotation=returns)
    line = f"{obj.__name__}{sig}"
    if len(line) <= width:
        return line
    P = inspect.Parameter
    items, star_done = [], False
    for i, p in enumerate(params):
        if p.kind == P.VAR_POSITIONAL:
            star_done = True
        if p.kind == P.KEYWORD_ONLY and not star_done:
            items.append("*")
            star_done = True
        items.append(str(p))
        if p.kind == P.POSITIONAL_ONLY and (i + 1 == len(params) or params[i + 1].kind != P.POSITIONAL_ONLY):
            items.append("/")
    ret = "" if sig.return_annotation is inspect.Signature.empty else \
        f" -> {inspect.formatannotation(sig.return_annotation)}"
    return f"{obj.__name__}(\n" + "".join(f"    {item},\n" for item in items) + f"){ret}"


def _methods(cls):
    """Public methods and properties the class defines itself, with their docstrings."""
    out = []
    for name, attr in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(attr, (staticmethod, classmethod)):
            attr = attr.__func__
        if inspect.isfunction(attr):
            out.append((_signature(attr), inspect.getdoc(attr) or ""))
        elif isinstance(attr, property) or type(attr).__name__ == "cached_property":
            out.append((f"{name}  (property)", inspect.getdoc(attr) or ""))
    return out


def member_markdown(name, obj):
    """One member: its name and kind, its signature, its docstring, and a class's methods."""
    kind = "class" if inspect.isclass(obj) else "function"
    parts = [f"**`{name}`** ({kind})\n", _fence(_signature(obj)),
             _fence(inspect.getdoc(obj) or "(no docstring)")]
    if inspect.isclass(obj):
        methods = _methods(obj)
        if methods:
            body = "\n\n".join(sig + ("\n    " + doc.replace("\n", "\n    ") if doc else "")
                               for sig, doc in methods)
            parts += [f"Methods and properties of `{name}`:\n", _fence(body)]
    return "\n".join(parts)


def show_module(module_name):
    """Display a module: its docstring, its constants, then every public function and class."""
    module = importlib.import_module(module_name)
    display(Markdown(_fence(inspect.getdoc(module) or "(no module docstring)")))
    SHOWN.append(module_name)
    members = public_members(module)
    constants = public_constants(module)
    if constants:
        rows = "\n\n".join(f"{n} = {_short(v)}" + (f"\n    {c}" if c else "") for n, v, c in constants)
        display(Markdown(f"Constants of `{module_name}`:\n\n" + _fence(rows)))
    reexported = sorted(n for n, o in vars(module).items() if not n.startswith("_")
                        and (inspect.isfunction(o) or inspect.isclass(o))
                        and getattr(o, "__module__", "").startswith(helpers.__name__ + ".")
                        and o.__module__ != module_name)
    if module_name in (helpers.__name__, helpers.__name__ + ".metrics") and reexported:
        display(Markdown(f"Re-exported here: {', '.join(f'`{n}`' for n in reexported)} "
                         "(documented under the module that defines them)."))
    for name, obj in members:
        display(Markdown(member_markdown(name, obj)))


MODULES = public_modules()
SHOWN = []  # the modules shown so far, in order (the last cell checks them against MODULES)

# %% [markdown]
# ## helpers
#
# The package: its docstring lists the modules, and its version.

# %% tags=remove-input
show_module("helpers")
display(Markdown(f"Version: `{helpers.__version__}`"))

# %% [markdown]
# ## helpers.settings

# %% tags=remove-input
show_module("helpers.settings")

# %% [markdown]
# ## helpers.safety

# %% tags=remove-input
show_module("helpers.safety")

# %% [markdown]
# ## helpers.data

# %% tags=remove-input
show_module("helpers.data")

# %% [markdown]
# ## helpers.models

# %% tags=remove-input
show_module("helpers.models")

# %% [markdown]
# ## helpers.losses

# %% tags=remove-input
show_module("helpers.losses")

# %% [markdown]
# ## helpers.train

# %% tags=remove-input
show_module("helpers.train")

# %% [markdown]
# ## helpers.scale

# %% tags=remove-input
show_module("helpers.scale")

# %% [markdown]
# ## helpers.cost

# %% tags=remove-input
show_module("helpers.cost")

# %% [markdown]
# ## helpers.sweep

# %% tags=remove-input
show_module("helpers.sweep")

# %% [markdown]
# ## helpers.interpolation

# %% tags=remove-input
show_module("helpers.interpolation")

# %% [markdown]
# ## helpers.zoo
#
# The measures of Chapter 6 are declared once each, in `zoo.MEASURES`.
# This table is generated from those declarations. The claimed direction is the sign the measure comes with: larger should mean a larger generalization gap (+1), or a smaller one (-1).

# %% tags=remove-input
import pandas as pd

from helpers import zoo

measure_table = pd.DataFrame(
    [{"name": m.name, "label": m.label, "source": m.source,
      "claimed direction": f"{m.sign:+d}: larger value, "
      + ("larger gap" if m.sign > 0 else "smaller gap"),
      "family": m.family, "description": m.description} for m in zoo.MEASURES])
display(measure_table.style.hide(axis="index"))

# %% tags=remove-input
show_module("helpers.zoo")

# %% [markdown]
# ## helpers.plots

# %% tags=remove-input
show_module("helpers.plots")

# %% [markdown]
# ## helpers.widgets

# %% tags=remove-input
show_module("helpers.widgets")

# %% [markdown]
# ## helpers.report

# %% tags=remove-input
show_module("helpers.report")

# %% [markdown]
# ## helpers.metrics
#
# The measures, one module per paper; `measure_all` takes every measure of `zoo.MEASURES` on a network of your own.

# %% tags=remove-input
show_module("helpers.metrics")

# %% [markdown]
# ## helpers.metrics.normalized

# %% tags=remove-input
show_module("helpers.metrics.normalized")

# %% [markdown]
# ## helpers.metrics.gsnr

# %% tags=remove-input
show_module("helpers.metrics.gsnr")

# %% [markdown]
# ## helpers.metrics.landscape

# %% tags=remove-input
show_module("helpers.metrics.landscape")

# %% [markdown]
# ## helpers.metrics.esd

# %% tags=remove-input
show_module("helpers.metrics.esd")

# %% [markdown]
# ## helpers.metrics.norms

# %% tags=remove-input
show_module("helpers.metrics.norms")

# %% [markdown]
# ## helpers.metrics.rank

# %% tags=remove-input
show_module("helpers.metrics.rank")

# %% [markdown]
# ## helpers.metrics.all_measures

# %% tags=remove-input
show_module("helpers.metrics.all_measures")

# %% [markdown]
# ## Every module is on this page
#
# The next cell compares the modules shown above with the modules the package holds, so a module added to `helpers` without a section here is named when the page runs (and fails the test suite).

# %% tags=remove-input
missing = sorted(set(MODULES) - set(SHOWN))
count = sum(len(public_members(m)) for m in MODULES)
display(Markdown(
    f"{len(MODULES)} modules, {count} public functions and classes. "
    + (f"**Not on this page yet: {', '.join(missing)}.**" if missing
       else "Every module of the package has a section.")))
