"""The built website in a real browser (Debian's chromium, driven by Playwright).

The site is built once per session at ``tiny`` scale, with the same strict flags as ``make book``,
then served on localhost with no route to the internet. Every page must load with no console
error, no page error and no failed request. (The Jupyter Book 1 template's own two errors,
the duplicated THEBE_JS_URL script and "Got invalid theme mode", are fixed in book/_ext and
_config.yml, so nothing is allowed through.) Every chapter must show its figures and its
scorecard, and in every chapter with an explorer, moving the slider with the keyboard must
change the figure shown, with no kernel.
"""
import functools
import http.server
import os
import pathlib
import shutil
import subprocess
import sys
import threading

import pytest
import yaml

from conftest import ROOT

from playwright import sync_api as playwright_api  # pinned: a broken install fails, never skips
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Console errors tolerated, matched one by one. Empty: the template's known ones are fixed.
KNOWN_TEMPLATE_ERRORS = ()
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
PAGES = [f"{TOC['root']}.html"] + [f"{c['file']}.html" for c in TOC["chapters"]]
CHAPTERS = [p for p in PAGES if p.split("/")[-1][:2].isdigit()]
# chapters with an explorer: a slider over a precomputed sweep
EXPLORERS = [p for p in CHAPTERS if "gap_explorer(" in (ROOT / p.replace(".html", ".ipynb")).read_text()]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site_out(tmp_path_factory):
    """The folder the site is built into; the chapters' scorecards go to its ``scorecards``."""
    return tmp_path_factory.mktemp("site")


@pytest.fixture(scope="module")
def site(site_out):
    """Build the book at tiny scale into a temporary folder and serve it on localhost."""
    if not (ROOT / "book" / "_vendor" / ".fetched").exists():
        pytest.fail("book/_vendor is missing: run `make setup` (make test does) to fetch the site's JavaScript")
    out = site_out
    env = dict(os.environ, BOOK_SCALE="tiny", BOOK_PROGRESS="0", BOOK_CACHE=str(out / "cache"),
               BOOK_SCORECARDS=str(out / "scorecards"))
    build = subprocess.run([str(pathlib.Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT), "--path-output", str(out),
                            "--warningiserror", "--nitpick", "--keep-going"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, f"strict site build failed:\n{build.stdout[-4000:]}\n{build.stderr[-4000:]}"
    html = out / "_build" / "html"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html))
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, url):
    """Open ``url``; return the page and the list of problems it reported (errors, failed loads)."""
    page = browser.new_page()
    problems = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    page.goto(url, wait_until="networkidle")
    return page, problems


def unexpected(problems):
    return [p for p in problems if not any(known in p for known in KNOWN_TEMPLATE_ERRORS)]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_loads_without_console_errors(site, browser, path):
    page, problems = open_page(browser, f"{site}/{path}")
    assert page.title(), f"{path} has no title"
    assert not unexpected(problems), f"{path}: " + "\n".join(unexpected(problems))
    page.close()


@pytest.mark.parametrize("path", CHAPTERS)
def test_chapter_shows_its_figures_and_scorecard(site, browser, path):
    page, _ = open_page(browser, f"{site}/{path}")
    figures = page.locator(".cell_output img")
    assert figures.count() >= 2
    for i in range(figures.count()):
        assert figures.nth(i).evaluate("img => img.complete && img.naturalWidth > 100"), f"figure {i} did not load"
    assert page.get_by_text("Reproduction scorecard").count() >= 1
    assert page.locator("table").filter(has_text="measured (tiny scale)").filter(has_text="verdict").count() == 1
    page.close()


def _words(text):
    return " ".join(text.split())


def test_what_held_up_lists_every_row_of_every_chapter_scorecard(site, site_out, browser):
    from helpers import report

    cards = report.read_scorecards(site_out / "scorecards")
    assert [c["chapter"] for c in cards] == [1, 2, 3, 4, 5, 6], "every chapter writes its scorecard"
    expected = {(c["chapter"], _words(r["claim"]), r["verdict"], _words(r["test"]))
                for c in cards for r in c["rows"]}
    page, problems = open_page(browser, f"{site}/book/what_held_up.html")
    assert not unexpected(problems), "\n".join(unexpected(problems))
    table = page.locator("table.dataframe").filter(has_text="interval")
    assert table.count() == 1, "the page shows one table of every claim"
    shown, chapter = set(), None
    for tr in table.locator("tbody tr").all():  # index cells: chapter (spanning its rows), claim
        heads, cells = tr.locator("th").all_inner_texts(), tr.locator("td").all_inner_texts()
        chapter = int(heads[0]) if len(heads) == 2 else chapter
        shown.add((chapter, _words(heads[-1]), _words(cells[0]), _words(cells[1])))
    assert shown == expected
    assert page.get_by_text("has not been built").count() == 0
    page.close()


@pytest.mark.parametrize("path", EXPLORERS)
def test_explorer_slider_changes_the_figure_without_a_kernel(site, browser, path):
    page, problems = open_page(browser, f"{site}/{path}")
    handle = page.locator(".widget-slider .noUi-handle, .widget-hslider .noUi-handle").first
    handle.wait_for(state="visible", timeout=30_000)
    shown = "Array.from(document.querySelectorAll('.widget-stack img, .widget-box img'))" \
            ".filter(i => i.offsetParent !== null).map(i => i.src)"
    before = page.evaluate(shown)
    assert len(before) == 1, f"expected one visible explorer figure, found {len(before)}"
    readout = page.locator(".widget-readout").first.inner_text()
    handle.focus()
    for key in ("ArrowRight", "ArrowLeft"):  # left if the default is the last value
        page.keyboard.press(key)
        page.wait_for_timeout(500)
        if page.locator(".widget-readout").first.inner_text() != readout:
            break
    after = page.evaluate(shown)
    assert len(after) == 1 and after != before, "moving the slider did not change the figure"
    assert page.locator(".widget-readout").first.inner_text() != readout
    # no dead button: training needs a kernel, so the page shows a note with the Colab link instead
    visible_buttons = page.evaluate("Array.from(document.querySelectorAll('.widget-button'))"
                                    ".filter(b => b.offsetParent !== null).length")
    assert visible_buttons == 0, f"{visible_buttons} training button(s) shown on the static page"
    note = page.locator("p.kernel-note").first
    assert note.is_visible(), "the static page does not say that training needs a live kernel"
    chapter = path.split("/")[-1].replace(".html", "")
    link = note.locator("a").first.get_attribute("href")
    assert link and "colab.research.google.com" in link and link.endswith(f"{chapter}.ipynb"), link
    assert not unexpected(problems), "\n".join(unexpected(problems))
    page.close()
