"""Small fixes to the Jupyter Book 1 page template, so the site logs no errors in the browser.

sphinx-thebe's inline script (``const THEBE_JS_URL = ...``) is added to every page twice (once with
filename None, once with ""), and the second copy throws "Identifier 'THEBE_JS_URL' has already been declared". We drop exact
duplicate script entries from each page's context before it is rendered.

The book's last page, *What held up?*, is built from the scorecards the chapters write when they
execute. Sphinx re-reads (and myst-nb re-executes) only changed pages, so after a rebuild that
re-ran a chapter the summary would be stale: it is re-read whenever any other page is. Sphinx
reads pages in sorted order, so ``book/what_held_up`` runs after ``book/0*``.
"""

SUMMARY_PAGE = "book/what_held_up"


def _reread_summary(app, env, added, changed, removed):
    others = (added | changed | removed) - {SUMMARY_PAGE}
    return [SUMMARY_PAGE] if others else []


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    scripts, seen = context.get("script_files"), set()
    if not scripts:
        return
    unique = []
    for script in scripts:
        # the two copies differ only in filename (None vs ""), so compare what ends up in the page
        key = (getattr(script, "filename", str(script)) or None, repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # in place: later handlers (myst-nb's widget state) append to this same list


def setup(app):
    app.connect("env-get-outdated", _reread_summary)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=1)  # early: a later handler may end the chain (emit_firstresult)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
