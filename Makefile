# One entry point for people and CI.  `make demo` sets everything up on a fresh
# Debian/Ubuntu machine and runs the main job on samples/; `make test` runs the tests.
# Models go where an installed sanitize looks for them: the user's data folder
# (~/.local/share/sanitize/models), or $SANITIZE_MODEL_DIR when set.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
APT_PKGS := ffmpeg libimage-exiftool-perl libgl1 libglib2.0-0
# Only the tests need it: the review page's browser tests drive Debian's chromium
# (Playwright never downloads a browser). Without it those tests skip.
TEST_APT_PKGS := chromium

.PHONY: demo setup system-deps test-deps test test-slow test-all bench lint clean

demo: setup
	$(BIN)/sanitize run samples -o out; code=$$?; \
	  echo "exit code $$code (0 all safe, 1 some need review, 2 some failed); open out/report.html"; \
	  [ $$code -le 1 ]

setup: system-deps $(STAMP)

# Tests need exiftool and ffprobe (the independent leak checker); opencv needs libGL.
system-deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else echo "please install:$$missing (sudo apt-get install$$missing)"; exit 1; fi; \
	fi

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python -m sanitize.install_models
	$(BIN)/sanitize doctor
	touch $(STAMP)

test-deps:
	@missing=""; for p in $(TEST_APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else echo "browser tests will skip: sudo apt-get install$$missing"; fi; \
	fi

# Lint first: `make test` (what CI runs) fails on a ruff or mypy error too.
test: setup test-deps lint
	$(BIN)/python -m pytest -q

test-slow: setup test-deps
	$(BIN)/python -m pytest -q -m slow

test-all: setup test-deps
	$(BIN)/python -m pytest -q -m ''

bench: setup
	$(BIN)/python bench/run_all.py

# mypy: strict on the shared types, the pipeline, the render plan, detectors and
# media ([tool.mypy] in pyproject.toml), normal elsewhere.
lint: setup
	$(BIN)/ruff check sanitize tests bench cli.py models/*.py
	$(BIN)/mypy

clean:
	rm -rf out .pytest_cache
