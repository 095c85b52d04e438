# Two commands do everything on a fresh Debian/Ubuntu machine (run as root or with sudo):
#   make demo   set up, then transcribe the bundled sample with the bundled model and LM
#   make test   set up, then run the test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := python3-venv espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts \
	bible-kjv bible-kjv-text chromium pulseaudio libportaudio2 libasound2-plugins g++ cmake zlib1g-dev libbz2-dev liblzma-dev libboost-program-options-dev \
	libboost-system-dev libboost-thread-dev libboost-test-dev

.PHONY: setup demo test bench clean
setup: .stamp-apt $(VENV)/.stamp

.stamp-apt:
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $(APT_PACKAGES)
	touch $@

$(VENV)/.stamp: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

demo: setup
	$(BIN)/streamasr transcribe streamasr/assets/sample.wav

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/accuracy.py

clean:
	rm -rf $(VENV) .stamp-apt
