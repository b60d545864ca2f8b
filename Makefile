# The two commands of the README: `make book` and `make test`. Both set up .venv on first use.
VENV    ?= .venv
PYTHON  := $(VENV)/bin/python
JS_DIR  := book/_widget_js
# Sweeps of `make book` are cached here, so a second build retrains nothing (delete it to retrain).
export BOOK_CACHE ?= $(CURDIR)/.cache/sweeps
export BOOK_SCALE ?= small
export BOOK_PROGRESS ?= 0

.PHONY: setup book test clean
setup: $(VENV)/.installed $(JS_DIR)/embed-amd.js

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements.txt
	$(PYTHON) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# The ipywidgets JavaScript, served from the site itself so the explorers work offline.
# Versions are those myst-nb uses from a CDN by default (html-manager 1.0.6, require.js 2.3.4).
$(JS_DIR)/embed-amd.js:
	rm -rf $(JS_DIR).tmp && mkdir -p $(JS_DIR).tmp $(JS_DIR)
	cd $(JS_DIR).tmp && npm pack --silent @jupyter-widgets/html-manager@1.0.6 requirejs@2.3.4 >/dev/null
	tar -xzf $(JS_DIR).tmp/jupyter-widgets-html-manager-1.0.6.tgz -C $(JS_DIR).tmp
	tar -xzf $(JS_DIR).tmp/requirejs-2.3.4.tgz -C $(JS_DIR).tmp package/require.js
	cd $(JS_DIR).tmp/package/dist && cp *.woff *.woff2 *.ttf *.eot *.svg ../../../_widget_js/
	cp $(JS_DIR).tmp/package/require.js $(JS_DIR)/require.js
	cp $(JS_DIR).tmp/package/dist/embed-amd.js $(JS_DIR)/embed-amd.js
	rm -rf $(JS_DIR).tmp

book: setup
	$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going

test: setup
	$(PYTHON) -m pytest tests

clean:
	rm -rf _build $(JS_DIR)
