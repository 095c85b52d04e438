#!/usr/bin/env bash
# Packs what a bare GPU machine needs to make a training corpus and train on it: this machine's TTS programs
# (espeak-ng, flite) with every library they load beyond the C library, the KJV text program and its data,
# the Python wheels that machine's PyTorch image lacks, SVOX Pico's source (built there), and the test
# splits' manifests (the new corpus must not speak their sentences). Run it here after `make demo`; it
# writes .device/ (ignored by git), which `recipes/gpu/run.sh` reads there. Needs the network to PyPI.
#
#   bash recipes/gpu/pack.sh [EVAL_CORPUS]      # EVAL_CORPUS: work/corpus-engines (its dev and test splits)
set -euo pipefail
corpus=$(realpath "${1:-work/corpus-engines}")
out=$(realpath -m "${DEVICE_DIR:-.device}")  # relative to where it runs: the repository root
PY=${PY:-.venv/bin/python}  # its pip fetches the wheels
rm -rf "$out" && mkdir -p "$out/tts/bin" "$out/tts/lib" "$out/tts/share" "$out/wheels" "$out/sdist" "$out/avoid"

# Programs and their libraries. The C library's own (libc, libm, the loader...) stay behind: the other
# machine's are newer, and a program built against an older glibc runs on a newer one.
progs=(/usr/bin/espeak-ng /usr/bin/flite /usr/bin/bible)
cp "${progs[@]}" "$out/tts/bin/"
ldd "${progs[@]}" | awk '/=> \//{print $3}' | sort -u \
  | grep -vE '/(libc|libm|libdl|libpthread|librt|libresolv|ld-linux[^/]*)\.so' \
  | while read -r lib; do cp -L "$lib" "$out/tts/lib/"; done
cp -rL /usr/lib/x86_64-linux-gnu/espeak-ng-data "$out/tts/share/"
cp /usr/lib/bible.data /usr/lib/bible.data.conc "$out/tts/share/"
# Each program behind a wrapper that gives it its own libraries (and no other process them: the other
# machine's Python would otherwise load this machine's older libzstd, libsystemd...) and its data.
for prog in espeak-ng flite bible; do
  mv "$out/tts/bin/$prog" "$out/tts/bin/$prog.bin"
done
wrapper() {  # NAME ARGS-BEFORE-THE-CALLER'S
  printf '#!/bin/sh\nhere=$(dirname "$(readlink -f "$0")")\n%s\nLD_LIBRARY_PATH="$here/../lib" exec "$here/%s.bin" %s "$@"\n' \
    "$3" "$1" "$2" > "$out/tts/bin/$1"
  chmod +x "$out/tts/bin/$1"
}
wrapper espeak-ng "" 'export ESPEAK_DATA_PATH="${ESPEAK_DATA_PATH:-$here/../share}"'  # the random voices set their own
wrapper flite "" ""
wrapper bible '-p "$here/../share/"' ""  # it looks for its data in ./ and /usr/lib/ unless told
tar -C "$out" -cJf "$out/tts.tar.xz" tts && rm -rf "$out/tts"

# Python 3.12 wheels (the GPU image's python) of what it lacks; Pico as source, built there.
pip_get() {
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$out/wheels" "$@"
}
pip_get soundfile==0.14.0 cffi==2.1.1 pycparser==3.12 jiwer==4.0.0 rapidfuzz==3.14.6
"$PY" -m pip download -q --no-deps --no-binary=:all: -d "$out/sdist" ttspico==0.3.2

for split in dev test-seen-voices test-unseen-voices; do
  cp "$corpus/$split.jsonl" "$out/avoid/"
done
du -sh "$out"
