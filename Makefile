# The two commands of the README: `make book` and `make test`. Both set up .venv on first use.
VENV    ?= .venv
PYTHON  := $(VENV)/bin/python
VENDOR  := book/_vendor
# Sweeps of `make book` are cached here, so a second build retrains nothing (delete it to retrain).
export BOOK_CACHE ?= $(CURDIR)/.cache/sweeps
export BOOK_SCALE ?= small
export BOOK_PROGRESS ?= 0
# Each chapter writes its scorecard here as it executes; the last page, What held up?, reads them.
export BOOK_SCORECARDS ?= $(CURDIR)/_build/scorecards

.PHONY: setup book test clean
setup: $(VENV)/.installed $(VENDOR)/.fetched

$(VENV)/.installed: requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements.txt
	$(PYTHON) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PYTHON) -m pip install --quiet --no-deps -e .
	touch $@

# Third-party JavaScript the site serves itself, so that it works with no network: ipywidgets'
# html-manager and require.js (the versions myst-nb would take from a CDN) and MathJax 3.
# Fetched from the npm registry at pinned versions; not committed (see .gitignore).
$(VENDOR)/.fetched:
	rm -rf $(VENDOR) $(VENDOR).tmp && mkdir -p $(VENDOR).tmp
	cd $(VENDOR).tmp && npm pack --silent @jupyter-widgets/html-manager@1.0.6 requirejs@2.3.4 mathjax@3.2.2 >/dev/null
	cd $(VENDOR).tmp && for f in *.tgz; do mkdir -p "$${f%.tgz}" && tar -xzf "$$f" -C "$${f%.tgz}"; done
	mkdir -p $(VENDOR)/static $(VENDOR)/extra/book/@jupyter-widgets/html-manager/dist
	cp $(VENDOR).tmp/requirejs-2.3.4/package/require.js $(VENDOR).tmp/jupyter-widgets-html-manager-1.0.6/package/dist/embed-amd.js $(VENDOR)/static/
	cp -r $(VENDOR).tmp/mathjax-3.2.2/package/es5 $(VENDOR)/static/mathjax
	# keep the one MathJax bundle the site loads (and what it loads on demand); drop the other 25 MB
	find $(VENDOR)/static/mathjax -maxdepth 1 -name '*.js' ! -name tex-mml-chtml.js -delete
	rm -rf $(VENDOR)/static/mathjax/sre $(VENDOR)/static/mathjax/output/svg*
	# the widget CSS asks for its icon fonts relative to the page (book/...), hence this extra path
	cd $(VENDOR).tmp/jupyter-widgets-html-manager-1.0.6/package/dist && \
	    cp *.woff *.woff2 *.ttf *.eot *.svg $(CURDIR)/$(VENDOR)/extra/book/@jupyter-widgets/html-manager/dist/
	rm -rf $(VENDOR).tmp && touch $@

book: setup
	$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going

test: setup
	$(PYTHON) -m pytest tests

clean:
	rm -rf _build $(VENDOR)
