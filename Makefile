# `make demo` and `make test` do all the set-up themselves on a fresh Debian machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# what Qt needs on Debian to open windows, and Xvfb for the tests and for machines without a screen
DEBIAN := xvfb xauth libgl1 libegl1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 \
          libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libfontconfig1 libdbus-1-3 \
          libgl1-mesa-dri fonts-dejavu-core
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test setup system clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

system:
	@if command -v apt-get >/dev/null && ! dpkg -s $(DEBIAN) >/dev/null 2>&1; then \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends $(DEBIAN) >/dev/null; fi

# the bundled encoders exported for ONNX Runtime, the engine's CPU backend (once; then a check).
# Not fatal: without the exports the engine runs eager PyTorch and says so.
setup: system $(STAMP)
	@$(BIN)/skelstream export --onnx --cache || echo "setup: no ONNX export (see above); the engine will run eager PyTorch"

# the dashboard on the bundled recordings (under Xvfb when there is no screen)
demo: setup
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then $(BIN)/skelstream app; else xvfb-run -a -s "-screen 0 1600x1000x24" $(BIN)/skelstream app; fi

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
