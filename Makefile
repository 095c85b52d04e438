# Two commands do everything on a fresh Debian/Ubuntu machine (run as root or with sudo):
#   make demo   set up, then transcribe the bundled sample with the bundled model and LM
#   make test   set up, then run the test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := python3-venv python3-dev espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts \
	festvox-italp16k festvox-itapc16k festvox-suopuhe-lj festvox-suopuhe-mv \
	bible-kjv bible-kjv-text chromium pulseaudio jackd2 libportaudio2 libasound2-plugins g++ cmake zlib1g-dev libbz2-dev liblzma-dev libboost-program-options-dev \
	libboost-system-dev libboost-thread-dev libboost-test-dev

.PHONY: setup demo test bench clean
setup: .stamp-apt $(VENV)/.stamp

.stamp-apt: Makefile  # the package list above: installed again when it (or anything here) changes
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $(APT_PACKAGES)
	touch $@

$(VENV)/.stamp: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,piper,convert]'
	touch $@

demo: setup
	$(BIN)/streamasr transcribe streamasr/assets/sample.wav

# MBROLA's voices (synth engines `mbrola`, `mbrola-accent`) are in Debian's non-free section: the tests install
# them, `make demo` does not; a new voice in the script installs again
.stamp-mbrola: recipes/mbrola-voices.sh
	bash recipes/mbrola-voices.sh
	touch $@

test: setup .stamp-mbrola
	$(BIN)/python -m pytest -q

# Every figure in the README: evaluation corpus and ARPA LM if missing, then each benchmark, then the plots and the
# targets table (about an hour here: 53 min on 2026-12-04 at commit 640b1cf; the corpus and LM already made;
# benchmarks added since: confidence.py about 4 min, word_times.py about 10, levels.py about 8, noise.py about 20).
CORPUS := work/corpus-engines
bench: setup $(CORPUS)/dev.jsonl $(CORPUS)/dev-unseen-voices.jsonl work/test-piper/test-seen-voices.jsonl work/lm/kjv.arpa
	$(BIN)/pip install -q -e '.[test,piper,convert,bench]'
	$(BIN)/python benchmarks/machine.py
	$(BIN)/python benchmarks/tune_lm.py --corpus $(CORPUS)
	$(BIN)/python benchmarks/accuracy.py --corpus $(CORPUS)
	$(BIN)/python benchmarks/density.py --corpus $(CORPUS)
	$(BIN)/python benchmarks/neural_voice.py --manifest work/test-piper/test-seen-voices.jsonl
	$(BIN)/python benchmarks/call_audio.py --corpus $(CORPUS)
	$(BIN)/python benchmarks/levels.py --corpus $(CORPUS)
	$(BIN)/python benchmarks/noise.py --corpus $(CORPUS)
	$(BIN)/python benchmarks/hotwords.py --corpus $(CORPUS) --tune
	$(BIN)/python benchmarks/hotwords.py --corpus $(CORPUS)
	$(BIN)/python benchmarks/deploy.py --corpus $(CORPUS)
	$(BIN)/python benchmarks/decoder.py --corpus $(CORPUS)
	$(BIN)/python benchmarks/peer.py --corpus $(CORPUS) --lm-arpa work/lm/kjv.arpa
	$(BIN)/python benchmarks/endpoint.py --corpus $(CORPUS)
	$(BIN)/python benchmarks/stability.py --corpus $(CORPUS)
	$(BIN)/python benchmarks/jobs.py --corpus $(CORPUS)
	$(BIN)/python benchmarks/confidence.py --corpus $(CORPUS) --tune
	$(BIN)/python benchmarks/confidence.py --corpus $(CORPUS)
	$(BIN)/python benchmarks/word_times.py --corpus $(CORPUS) --tune
	$(BIN)/python benchmarks/word_times.py --corpus $(CORPUS)
	$(BIN)/python benchmarks/latency.py --corpus $(CORPUS) --processes 3 --streams 1,8,16,32,40,48,64,80,96,112
	$(BIN)/python benchmarks/latency.py --corpus $(CORPUS) --processes 2 --streams 32,40,48,64 --name latency-two-processes
	$(BIN)/python benchmarks/latency.py --corpus $(CORPUS) --processes 1 --streams 1,16,32,40,48 --name latency-one-process
	$(BIN)/python benchmarks/latency.py --corpus $(CORPUS) --processes 3 --beam 16 --streams 32,48,64,80,96 --name latency-beam16
	$(BIN)/python benchmarks/latency.py --corpus $(CORPUS) --processes 3 --final-pass --streams 1,8,16,24,32,40 --name latency-final-pass
	$(BIN)/python benchmarks/admission.py --corpus $(CORPUS)
	$(BIN)/python benchmarks/soak.py --corpus $(CORPUS) --streams 40 --processes 3
	$(BIN)/python benchmarks/plots.py
	$(BIN)/python benchmarks/targets.py

# The benchmarks read dev and the test splits, not the training audio (README, "Training your own", makes
# that too). Stage 1's plan alone is made first, so that dev avoids the sentences the bundled model heard there.
work/corpus/plan.jsonl:
	$(BIN)/streamasr data synth --out work/corpus --hours 12 --seed 0 --voice-draw uniform --splits ''

EVAL_SYNTH := $(BIN)/streamasr data synth --out $(CORPUS) --hours 10 --seed 0 --dev-avoid work/corpus/plan.jsonl
$(CORPUS)/dev.jsonl: work/corpus/plan.jsonl
	$(EVAL_SYNTH) --splits dev,test-seen-voices,test-unseen-voices,dev-unseen-voices

# (a corpus made before dev-unseen-voices existed gets it alone; its other splits and plan stay as they are)
$(CORPUS)/dev-unseen-voices.jsonl: work/corpus/plan.jsonl
	$(EVAL_SYNTH) --splits dev-unseen-voices

# The test sentences of $(CORPUS) (same seed), spoken by Piper's neural voice.
work/test-piper/test-seen-voices.jsonl:
	$(BIN)/streamasr data synth --out work/test-piper --hours 0.001 --seed 0 --dev-sentences 0 --engines piper

work/lm/kjv.arpa: $(CORPUS)/dev.jsonl
	mkdir -p work/lm
	bash lm/build_lm.sh $(CORPUS)/lm-text.txt work/lm/kjv 4

clean:
	rm -rf $(VENV) .stamp-apt .stamp-mbrola
