# %% [markdown]
# # What held up?
#
# [![Open In Colab](images/colab-badge.svg)](https://colab.research.google.com/github/why-deep-networks-generalize/book/blob/main/book/what_held_up.ipynb)
#
# Every chapter ends with a reproduction scorecard: the paper's claims, what the chapter's run measured, and a verdict.
# This page gathers the rows of all six scorecards in one table.
#
# A verdict is one of three words.
# **held** means the run passed the row's test; **not held** means it failed it; **not measured** means this build could not run the test, and the row says why (for example, a pretrained series that needs torchvision and the network).
# Each row states its test: the threshold, and why that threshold is the right one (the paper's own number, the spread between seeds, or the same test on a null such as shuffled labels).
# So every row is a test that could fail, and a reader can check each verdict against its threshold without rerunning anything.
# Where the measurement allows, a row also gives an interval (a bootstrap, or the range over seeds) and the result of the same test on a null.
#
# The numbers come from the scale each chapter was built at (on the website, the default `small` scale on a CPU), not from the papers' own scale.
# A claim that did not hold here may hold with the paper's data and networks; a claim that held here has survived one honest attempt to break it, and no more.
#
# The chapters write their scorecards when they run, and this page reads them back.
# It runs last in a build of the book, so it shows that build's chapters.
# Opened on its own (in Colab, say), it shows the scorecards that chapters have written on the same machine, or says that there are none yet.

# %%
import sys

# Colab: install helpers from the book's repository
if "google.colab" in sys.modules:
    repo = "git+https://github.com/why-deep-networks-generalize/book"
    %pip install --quiet "why-deep-networks-generalize @ {repo}"
    from google.colab import output
    output.enable_custom_widget_manager()  # ipywidgets 8 in Colab

# %% [markdown]
# ## Where the scorecards come from
#
# Each chapter's scorecard is a small JSON file, named by its chapter number, in one folder: `$BOOK_SCORECARDS` if it is set (`make book` sets it to `_build/scorecards`), otherwise `scorecards` inside the sweep cache.
# The next cell reads them all, and says which scale and which version of `helpers` they come from.
# It warns if they were built at different scales or with different versions, and names any chapter whose scorecard is missing.

# %%
from IPython.display import Markdown, display

from helpers import report

cards = report.read_scorecards()
for note in report.provenance_notes(cards):  # a warning in bold
    display(Markdown(f"**{note}**" if note.startswith("Warning") else note))

# %% [markdown]
# ## The verdicts, chapter by chapter
#
# :::{admonition} Predict, then check
# :class: predict
# Before you run the next cell: of all the claims that the six chapters test, what share do you expect to have held at this scale?
# And which chapter do you expect to have the most rows that did not hold?
# :::

# %%
totals = report.verdict_totals(cards)
everything = totals.loc["all chapters"]
for verdict in ("held", "not held", "not measured", "total"):
    report.glue(f"wh_{verdict.replace(' ', '_')}", int(everything[verdict]))
report.glue("wh_chapters", len(cards))
totals

# %% [markdown]
# In this build, {glue:text}`wh_held` of the {glue:text}`wh_total` rows held, {glue:text}`wh_not_held` did not, and {glue:text}`wh_not_measured` could not be measured; the scorecards of {glue:text}`wh_chapters` chapters were found.
# Compare the share that held with your prediction.
# A row that did not hold is not necessarily a refuted paper: read its test and its measured value, and ask whether the threshold, the scale or the claim is at fault.
#
# ## Every claim of every chapter
#
# The table lists each row with its verdict, its test, its interval and its null where it has them, and what the run measured.
# The paper's own numbers are in each chapter's scorecard.

# %% tags=full-width
summary = report.summary_table(cards)
report.Table(summary.set_index(["chapter", "claim"]))

# %% [markdown]
# ## How to read it
#
# - **Start with the tests.** A verdict is only as good as its threshold. If a test would pass for a random ranking, or for a layer that learned nothing, it tests nothing; each chapter's null column shows how often that happens, and some rows say that their null passes too.
# - **Look at the intervals.** A verdict decided by a number whose interval straddles the threshold could flip with another seed; a verdict far from its threshold is robust at this scale.
# - **Remember the scale.** These runs use small networks on MNIST-1D and small zoos. Rebuild at a different scale (`BOOK_SCALE=paper` on a GPU) and the verdicts may change; the scale of every scorecard is stated above.
#
# ## Exercises
#
# 1. **Break a verdict.** Pick a row that held with the smallest margin over its threshold. Rerun its chapter with a different seed (or, where the chapter has seeds, with one more seed), then run this page again. Did the verdict flip?
#
# :::{admonition} What to look for
# :class: dropdown
# Compare the new measured value with the row's interval. A value inside the old interval is what seed noise predicts; a verdict that flips while the value stays inside it was decided by noise, and the row's test should have said so.
# :::
#
# 2. **Make a test that cannot fail, then catch it.** Write down a threshold for any one row that every run would pass (for example, a rank correlation of at least $-1$). Which null from the chapters would expose it?
#
# :::{admonition} What to look for
# :class: dropdown
# A random ranking (permuted measures) or shuffled labels passes a vacuous threshold as easily as the real run. A test is informative only when the null fails it and the real run passes it.
# :::
#
# 3. **Two scales side by side.** Build the chapters at `tiny` scale with `BOOK_SCORECARDS` pointing at a new folder, then run this page with each folder in turn. Which verdicts depend on the scale?
#
# :::{admonition} What to look for
# :class: dropdown
# At `tiny` scale the zoos and seed counts are smallest, so the intervals are widest; expect more rows to fail or to be decided inside their intervals. A claim that holds at both scales, with its null failing at both, is the strongest evidence this book can give.
# :::
