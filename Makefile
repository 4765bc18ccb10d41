# Two entry points for a fresh machine: `make demo` and `make test`. Each installs what it
# needs first: the system packages (ffmpeg) and a virtual environment with pinned packages.
PYTHON ?= python3
VENV := .venv
# torch comes from the PyTorch CPU wheel index: PyPI's torch for Linux is the CUDA build (several GB). On a GPU
# machine pick the CUDA index that matches the driver, e.g. `make install TORCH_INDEX=https://download.pytorch.org/whl/cu128`,
# or `TORCH_INDEX=` for PyPI's default build. Changing it after an install: `make clean install TORCH_INDEX=...`.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH := $(shell sed -n 's/^ *"\(torch==[^"]*\)",.*/\1/p' pyproject.toml)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install system-deps test-system-deps demo test bench lint clean

system-deps:
	@command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || { \
		echo "installing ffmpeg (Debian/Ubuntu apt)"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg; }

# The web viewer's end-to-end test drives a real headless Chromium (Playwright cannot download one here).
test-system-deps: system-deps
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium (Debian/Ubuntu apt)"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, alone, from TORCH_INDEX; the next line keeps it (it satisfies the pin) and adds its dependencies.
	$(BIN)/pip install -q --no-deps $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) '$(TORCH)'
	$(BIN)/pip install -q -e '.[test]'
	# PySceneDetect is the cut-detection reference of the throughput benchmark (benchmarks/) and its tests, not a
	# humannet dependency; --no-deps keeps its GUI OpenCV off the headless one (its own dependencies: the bench extra).
	$(BIN)/pip install -q --no-deps scenedetect==0.7.2
	# MediaPipe 0.10.21 ships its models in the wheel; --no-deps for the reasons in pyproject.toml.
	$(BIN)/pip install -q --no-deps mediapipe==0.10.21
	# RapidOCR's metadata asks for the GUI OpenCV build; its real dependencies are in pyproject.toml.
	$(BIN)/pip install -q --no-deps rapidocr-onnxruntime==1.4.4
	touch $(STAMP)

install: system-deps $(STAMP)

demo: install
	$(BIN)/humannet curate examples/videos --out demo-corpus

test: test-system-deps $(STAMP)
	$(BIN)/pytest -n 2 -q

bench: install
	$(BIN)/python -m benchmarks throughput ../shared/data/videos --long-video --repeat 3

lint: install
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) demo-corpus .pytest_cache
