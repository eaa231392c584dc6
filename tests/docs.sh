#!/bin/sh
# docs.sh BUILD — every command shown in README.md and docs/*.md runs as documented (tests/doctest.py).
exec /usr/bin/python3 "$(dirname "$0")/doctest.py" "${1:-build}"
