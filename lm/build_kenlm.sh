#!/usr/bin/env bash
# Build KenLM's lmplz and build_binary from KenLM's own source (the kenlm sdist on PyPI)
# into lm/bin/. Needs Debian's build tools and Boost; installs them when run as root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=0.3.0
[ -x "$here/bin/lmplz" ] && [ -x "$here/bin/build_binary" ] && { echo "kenlm tools already in $here/bin"; exit 0; }
if [ "$(id -u)" = 0 ]; then
  apt-get update -q
  apt-get install -y -q g++ cmake libboost-program-options-dev libboost-system-dev libboost-thread-dev \
    libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev
fi
src="$here/kenlm-src"
if [ ! -d "$src/kenlm-$version" ]; then
  mkdir -p "$src"
  # pip fetches the source distribution by name from the package registry.
  "${PYTHON:-python3}" -m pip download --quiet --no-deps --no-binary kenlm -d "$src" "kenlm==$version"
  tar -xzf "$src/kenlm-$version.tar.gz" -C "$src"
fi
cmake -S "$src/kenlm-$version" -B "$src/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$src/build" --target lmplz build_binary -j "${JOBS:-2}"
mkdir -p "$here/bin"
cp "$src/build/bin/lmplz" "$src/build/bin/build_binary" "$here/bin/"
echo "built $here/bin/lmplz and $here/bin/build_binary"
