#!/usr/bin/env bash
# One fine-tuning run on a bare GPU machine, run from the repository root there with .device/ (made here by
# `recipes/gpu/pack.sh`) carried beside it: a new corpus of stage 14's training voices, synthesized there
# on every core, then RECIPE on it; the model and its log land in $OUT. A rehearsal of five steps on a
# sliver of corpus goes first, so that a recipe that cannot run there fails in seconds. Prints the
# seconds each part took. RECIPE's out folder is made anew.
#
#   bash recipes/gpu/run.sh                       # in the device's command (OUT is its folder to bring back)
#   PY=.venv/bin/python HOURS=0.02 MINUTES=0.3 OUT=/tmp/o bash recipes/gpu/run.sh   # the same, on a CPU
set -euo pipefail
HOURS=${HOURS:-30}        # hours of training audio to synthesize (about a minute on 16 cores, planned)
MINUTES=${MINUTES:-}      # training wall time, if not the recipe's max_minutes
SEED=${SEED:-20}          # the corpus's seed: no earlier corpus has it
RECIPE=${RECIPE:-recipes/gpu-finetune.json}
PY=${PY:-python3}
OUT=${OUT:-/tmp/gpu-out}
WORK=${WORK:-/tmp/streamasr-gpu}
DEV=${DEVICE_DIR:-.device}  # what pack.sh made
export PYTHONUNBUFFERED=1
start=$(date +%s)
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
quiet() { tr '\r' '\n' | grep -vE '^(synth|train|features [a-z-]+): ' || true; }  # progress bars, one line a tick
mkdir -p "$OUT" "$WORK"

# TTS programs, Python packages the image lacks, and SVOX Pico (built from source, else left out).
untar() { "$PY" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter="tar")' "$@"; }
untar "$DEV/tts.tar.xz" "$WORK"  # (Python's own xz: the machine may have no xz program)
export PATH="$WORK/tts/bin:$PATH" PYTHONPATH="$PWD:$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c "import soundfile, jiwer" 2>/dev/null \
  || "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$WORK/site" "$DEV"/wheels/*.whl
engines="espeak-ng-accent flite pico"  # stage 14's training engines (festival's voices are all held out)
if ! "$PY" -c "import ttspico" 2>/dev/null; then
  untar "$(echo "$DEV"/sdist/ttspico-*.tar.gz)" "$WORK"
  src=$(echo "$WORK"/ttspico-*/)
  if (cd "$src" && "$PY" setup.py build_ext --inplace) > "$OUT/pico-build.log" 2>&1; then
    mkdir -p /usr/share/pico/lang && cp "$src"/picopi/pico/lang/*.bin /usr/share/pico/lang/
    export PYTHONPATH="$PYTHONPATH:$src"
  else
    engines="espeak-ng-accent flite"
    echo "SVOX Pico did not build here ($OUT/pico-build.log): the corpus goes without its voices"
  fi
fi
# The batch-making workers hand their batches over through shared memory: where /dev/shm is small (a
# container's 64 MB, say), the loop makes them itself.
shm='"prep_workers": 0'
if [ "$(df -k --output=avail /dev/shm 2>/dev/null | tail -1)" -gt 4000000 ] 2>/dev/null; then shm=""; fi
extra="\"train_manifests\": [\"$WORK/corpus/train.jsonl\"]${shm:+, $shm}${MINUTES:+, \"max_minutes\": $MINUTES}"
stamp "set up; engines: $engines; the run's changes to $RECIPE: {$extra}; $("$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())')"

synth() {  # FOLDER HOURS
  # shellcheck disable=SC2086
  "$PY" -m streamasr.cli.main data synth --out "$1" --hours "$2" --seed "$SEED" --engines $engines --splits train \
    --train-avoid "$DEV"/avoid/{dev,test-seen-voices,test-unseen-voices}.jsonl \
    --jobs "$(nproc)" 2>&1 | quiet
  test -s "$1/train.jsonl"
}
# RECIPE with some settings replaced, written beside it (where its relative paths hold); prints its path.
variant() {  # NAME JSON
  "$PY" -c 'import json, sys; from pathlib import Path
recipe, name, extra = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
(recipe.parent / name).write_text(json.dumps(json.loads(recipe.read_text()) | extra, indent=2))
print(recipe.parent / name)' "$RECIPE" "$@"
}
exp=$("$PY" -c 'import sys; from streamasr.train.config import TrainConfig; print(TrainConfig.load(sys.argv[1]).out)' "$RECIPE")
rm -rf "$WORK/smoke" "$WORK/smoke-exp" "$WORK/corpus" "$exp"
synth "$WORK/smoke" 0.01
"$PY" -m streamasr.cli.main train "$(variant .gpu-smoke.json "{\"train_manifests\": [\"$WORK/smoke/train.jsonl\"],
  \"out\": \"$WORK/smoke-exp\", \"max_steps\": 5, \"max_minutes\": 0, \"checkpoint_every\": 5, \"average_last\": 1
  ${shm:+, $shm}}")" 2>&1 | quiet
test -f "$WORK/smoke-exp/model/model.safetensors"
stamp "rehearsal: 5 steps on $(wc -l < "$WORK/smoke/train.jsonl") utterances"

synth "$WORK/corpus" "$HOURS"
stamp "synthesized $(wc -l < "$WORK/corpus/train.jsonl") utterances"
"$PY" -m streamasr.cli.main train "$(variant .gpu-run.json "{$extra}")" 2>&1 | quiet
test -f "$exp/model/model.safetensors"
mkdir -p "$OUT/model" && cp "$exp"/model/* "$OUT/model/" && cp "$exp/log.csv" "$OUT/"
stamp "trained $(tail -1 "$exp/log.csv" | cut -d, -f1) steps; the model and log.csv are in $OUT"
