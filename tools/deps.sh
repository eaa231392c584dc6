#!/bin/sh
# deps.sh — installs what lowp's build, tests and demo need from Debian (as root, via apt).
# Packages are checked with dpkg; node and npm by command, since a machine may have them from
# elsewhere (Debian's npm would conflict with another nodejs).
set -e
PKGS="build-essential pkg-config protobuf-c-compiler libprotobuf-c-dev libonnx-dev libdnnl-dev
libyaml-dev zlib1g-dev libjpeg-dev libpng-dev libonnx-testdata dataset-fashion-mnist python3-numpy python3-onnx
python3-pytest python3-torch python3-torchvision libmicrohttpd-dev libopenmpi-dev openmpi-bin python3-mpi4py chromium clang"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "deps: missing packages:$missing (run as root)" >&2; exit 1; }
    SUDO=sudo
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
