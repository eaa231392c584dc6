#!/bin/sh
# deps.sh — installs the Debian packages lowp's build, tests and demo need (as root, via apt).
set -e
PKGS="build-essential pkg-config protobuf-c-compiler libprotobuf-c-dev libonnx-dev libdnnl-dev
libyaml-dev zlib1g-dev libjpeg-dev libpng-dev libonnx-testdata dataset-fashion-mnist"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "deps: missing packages:$missing (run as root)" >&2; exit 1; }
    SUDO=sudo
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
