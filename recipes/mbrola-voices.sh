#!/usr/bin/env bash
# MBROLA (Debian contrib) and its diphone voices (non-free), the engines `mbrola` and `mbrola-accent` of `streamasr data synth`;
# the voices' databases may be copied freely but not sold or built into a product that is sold (see
# /usr/share/doc/mbrola-us1/copyright once installed). This reads those sections' package lists into a folder of
# its own and installs the packages below from it; the machine's apt sources are left as they are.
# Run as root (or with sudo available).
set -euo pipefail
sudo=$([ "$(id -u)" = 0 ] || echo sudo)
packages=(mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1  # the English voices (engine mbrola)
          mbrola-af1 mbrola-de1 mbrola-de2 mbrola-de3 mbrola-de4 mbrola-de5 mbrola-de6 mbrola-fr1 mbrola-fr4
          mbrola-gr2 mbrola-hu1 mbrola-nl2 mbrola-pl1 mbrola-ro1 mbrola-sw1 mbrola-sw2)  # other languages' (mbrola-accent)
if apt-cache policy mbrola-us1 2>/dev/null | grep -q 'Candidate: [0-9]'; then  # the machine's sources have them
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${packages[@]}"
  exit 0
fi
. /etc/os-release  # ID, VERSION_CODENAME: debian, bookworm
if [ "$ID" != debian ]; then
  echo "mbrola-voices.sh: enable the section of your distribution that has ${packages[*]} (Ubuntu: multiverse)" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/non-free.sources" <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: $VERSION_CODENAME
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
mkdir -p "$tmp/lists/partial"
opts=(-o "Dir::Etc::SourceList=$tmp/non-free.sources" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$tmp/lists")
$sudo apt-get "${opts[@]}" update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get "${opts[@]}" install -y -q "${packages[@]}"
