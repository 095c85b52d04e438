#!/usr/bin/env bash
# Build a word n-gram LM with KenLM's lmplz and build_binary:
#   lm/build_lm.sh TEXT OUT_PREFIX [ORDER]
# writes OUT_PREFIX.arpa, OUT_PREFIX.bin (quantized trie) and OUT_PREFIX.unigrams.txt
# (the vocabulary the decoder needs beside a binary model).
# TEXT: one normalized sentence a line (lower case, letters and apostrophes), e.g. the lm-text.txt
# that `streamasr data synth` writes; it must not contain the test sentences.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
text=$1; out=$2; order=${3:-4}
[ -x "$here/bin/lmplz" ] || bash "$here/build_kenlm.sh"
"$here/bin/lmplz" -o "$order" --discount_fallback -S 20% -T "${TMPDIR:-/tmp}" < "$text" > "$out.arpa"
"$here/bin/build_binary" -q 8 -b 8 trie "$out.arpa" "$out.bin" >/dev/null
tr ' ' '\n' < "$text" | grep -v '^$' | sort -u > "$out.unigrams.txt"
ls -l "$out.arpa" "$out.bin" "$out.unigrams.txt"
