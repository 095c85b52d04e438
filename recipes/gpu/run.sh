#!/usr/bin/env bash
# One training run on a bare GPU machine, run from the repository root there with .device/ (made here by
# `recipes/gpu/pack.sh`) carried beside it: a new corpus of stage 14's training voices, synthesized there
# on every core, then every recipe of RECIPES on it at once (a model this small is unlikely to keep the
# GPU busy alone, so two runs should share it at little cost to either; not yet measured). Each model and
# log lands in $OUT as NAME.model.tgz and NAME.log.csv. A rehearsal of five steps of each recipe on a
# sliver of corpus goes first, so that a recipe that cannot run there is dropped in seconds. The whole
# script keeps inside BUDGET seconds: training gets the recipe's minutes or what is left less RESERVE,
# the lesser. Prints the seconds each part took. Each recipe's out folder is made anew.
#
#   bash recipes/gpu/run.sh                       # in the device's command (OUT is its folder to bring back)
#   PY=.venv/bin/python HOURS=0.02 MINUTES=0.3 OUT=/tmp/o bash recipes/gpu/run.sh   # the same, on a CPU
set -euo pipefail
HOURS=${HOURS:-30}        # hours of training audio to synthesize (about a minute on 16 cores, planned)
MINUTES=${MINUTES:-}      # training wall time, if not the recipes' max_minutes
SEED=${SEED:-20}          # the corpus's seed: no earlier corpus has it
RECIPES=${RECIPES:-recipes/gpu-finetune.json recipes/gpu-grow.json}  # trained at once, on the same corpus
BUDGET=${BUDGET:-570}     # seconds the whole script may take (the device runs a command 600 s at most)
RESERVE=${RESERVE:-100}   # seconds kept back from training: the feature caches before it, the models after
PY=${PY:-python3}
OUT=${OUT:-/tmp/gpu-out}
WORK=${WORK:-/tmp/streamasr-gpu}
DEV=${DEVICE_DIR:-.device}  # what pack.sh made
export PYTHONUNBUFFERED=1
start=$(date +%s)
stamp() { echo "[$(($(date +%s) - start)) s] $*"; }
quiet() { tr '\r' '\n' | grep --line-buffered -vE '^(synth|train|features [a-z-]+): |^$' || true; }  # progress bars, one line a tick
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
# container's 64 MB, say), the loop makes them itself. The cores are shared out among the recipes.
big_shm=0; [ "$(df -k --output=avail /dev/shm 2>/dev/null | tail -1)" -gt 4000000 ] 2>/dev/null && big_shm=1
share() {  # sets shares: the prep_workers and feature_jobs settings for each of RECIPES
  local n workers jobs
  n=$(echo $RECIPES | wc -w)
  workers=$(( ($(nproc) - 2 * n) / n )); [ "$workers" -ge 1 ] || workers=1; [ "$big_shm" = 1 ] || workers=0
  jobs=$(( $(nproc) / n )); [ "$jobs" -ge 1 ] || jobs=1
  shares="\"prep_workers\": $workers, \"feature_jobs\": $jobs"
}
share
stamp "set up; engines: $engines; recipes: $RECIPES; $shares; $("$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())')"

synth() {  # FOLDER HOURS
  # shellcheck disable=SC2086
  "$PY" -m streamasr.cli.main data synth --out "$1" --hours "$2" --seed "$SEED" --engines $engines --splits train \
    --train-avoid "$DEV"/avoid/{dev,test-seen-voices,test-unseen-voices}.jsonl \
    --jobs "$(nproc)" 2>&1 | quiet
  test -s "$1/train.jsonl"
}
# RECIPE with some settings replaced, written beside it (where its relative paths hold), its training time
# at most CAP_S seconds (if set); prints its path.
variant() {  # RECIPE NAME JSON
  "$PY" -c 'import json, os, sys; from pathlib import Path
recipe, name, extra = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
cfg = json.loads(recipe.read_text()) | extra
if os.environ.get("CAP_S"):
    cap = float(os.environ["CAP_S"]) / 60  # (positive: 0 would mean no limit)
    cfg["max_minutes"] = min(cfg.get("max_minutes") or cap, cap)
(recipe.parent / name).write_text(json.dumps(cfg, indent=2))
print(recipe.parent / name)' "$@"
}
out_of() { "$PY" -c 'import sys; from streamasr.train.config import TrainConfig; print(TrainConfig.load(sys.argv[1]).out)' "$1"; }
# Every recipe at once, as PREFIX-NAME with the settings JSON ("@" in it: the recipe's name); waits for them
# all and fails if any did. Each line of their output begins with [NAME].
train_all() {  # PREFIX JSON
  local pids=() r name cfg failed=0
  for r in $RECIPES; do
    name=$(basename "$r" .json)
    cfg=$(variant "$r" ".gpu-$1-$name.json" "${2//@/$name}")
    ("$PY" -m streamasr.cli.main train "$cfg" 2>&1 | quiet | sed -u "s/^/[$name] /") &
    pids+=("$!")
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  return $failed
}
rm -rf "$WORK/smoke" "$WORK/smoke-exp" "$WORK/corpus"
for r in $RECIPES; do rm -rf "$(out_of "$r" || true)"; done  # (a recipe that does not load fails its rehearsal)
synth "$WORK/smoke" 0.01
train_all smoke "{\"train_manifests\": [\"$WORK/smoke/train.jsonl\"], \"out\": \"$WORK/smoke-exp/@\", \"max_steps\": 5,
  \"max_minutes\": 0, \"checkpoint_every\": 5, \"average_last\": 1, $shares}" || true
passed=""
for r in $RECIPES; do  # a recipe that cannot run here is dropped; the others go on
  if [ -f "$WORK/smoke-exp/$(basename "$r" .json)/model/model.safetensors" ]; then passed="$passed $r"
  else stamp "rehearsal of $r failed (its lines above): dropped"; fi
done
RECIPES=${passed# }
[ -n "$RECIPES" ] || { stamp "no recipe passed its rehearsal"; exit 1; }
stamp "rehearsal: 5 steps of each recipe on $(wc -l < "$WORK/smoke/train.jsonl") utterances; on to $RECIPES"
share

synth "$WORK/corpus" "$HOURS"
stamp "synthesized $(wc -l < "$WORK/corpus/train.jsonl") utterances"
export CAP_S=$(( BUDGET - ($(date +%s) - start) - RESERVE ))
if [ "$CAP_S" -lt 30 ]; then stamp "only $CAP_S s left to train in: not worth a run"; exit 1; fi
extra="\"train_manifests\": [\"$WORK/corpus/train.jsonl\"], $shares${MINUTES:+, \"max_minutes\": $MINUTES}"
stamp "training: at most $CAP_S s each; the run's changes to the recipes: {$extra}"
train_all run "{$extra}" || echo "a recipe failed: what the others made still comes back"
unset CAP_S
made=0
for r in $RECIPES; do
  name=$(basename "$r" .json) exp=$(out_of "$r")
  if [ -f "$exp/model/model.safetensors" ]; then
    "$PY" -c 'import sys, tarfile
with tarfile.open(sys.argv[1], "w:gz") as tar: tar.add(sys.argv[2], arcname="model")' \
      "$OUT/$name.model.tgz" "$exp/model"
    cp "$exp/log.csv" "$OUT/$name.log.csv"
    last=$(basename "$(ls "$exp"/ckpt-*.pt | tail -1)" .pt)  # ckpt-00001234
    stamp "$name: trained $((10#${last#ckpt-})) steps; $OUT/$name.model.tgz and $name.log.csv"
    made=$((made + 1))
  else
    stamp "$name: no model"
  fi
done
[ "$made" -gt 0 ]
