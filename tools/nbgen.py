"""Write a chapter notebook from a light-weight source: cells separated by marker lines.

A line ``# %% [markdown]`` starts a markdown cell, ``# %%`` a code cell (optionally followed by
tags: ``# %% tags=remove-input,hide-output``). Outputs are never written: the site executes.
Usage: python tools/nbgen.py book/src/01_randomization_tests.py book/01_randomization_tests.ipynb
"""
import re
import sys

import nbformat


def parse(text: str):
    cells, kind, tags, lines = [], None, [], []

    def flush():
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(body)
        else:
            cell = nbformat.v4.new_code_cell(body)
        if tags:
            cell.metadata["tags"] = tags
        cells.append(cell)

    for line in text.splitlines():
        m = re.match(r"^# %%( \[markdown\])?(?: tags=(\S+))?\s*$", line)
        if m:
            flush()
            kind, tags, lines = ("markdown" if m.group(1) else "code"), (m.group(2).split(",") if m.group(2) else []), []
        elif kind == "markdown":
            lines.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
        else:
            lines.append(line)
    flush()
    return cells


def main(src: str, dst: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = parse(open(src).read())
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"
    nb.metadata.update({"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                        "language_info": {"name": "python"}, "colab": {"provenance": []}})
    nbformat.validate(nb)
    nbformat.write(nb, dst)


if __name__ == "__main__":
    main(*sys.argv[1:3])
