#!/bin/sh
# repo.sh — the checkout's top level holds only what the project means to ship there: a stray
# file (a shell error log, a scratch model) committed by accident shows up here, not years later.
SUITE=repo
. tests/lib.sh

if ! git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    skip top-level "not a git checkout"
    finish; exit
fi
# The files and folders the README and docs/architecture.md describe; a new top-level entry is
# a design decision: add it here together with its place in docs/architecture.md.
allowed=".ci .gitignore LICENSE Makefile README.md bench docs examples fuzz include models python src tests tools ui"
git -C "$ROOT" ls-files | cut -d/ -f1 | sort -u >"$T/top"
stray=""
while read -r name; do
    case " $allowed " in *" $name "*) ;; *) stray="$stray $name" ;; esac
done <"$T/top"
if [ -z "$stray" ]; then ok top-level; else fail top-level "unexpected tracked top-level entries:$stray"; fi
# Every folder in the list exists, so the list cannot drift into allowing names nobody uses.
missing=""
for name in $allowed; do grep -qx -- "$name" "$T/top" || missing="$missing $name"; done
if [ -z "$missing" ]; then ok allowed-list-current; else fail allowed-list-current "listed but not tracked:$missing"; fi
finish
