#!/usr/bin/python3
"""doctest.py BUILD — every command the docs show runs as shown, so the docs cannot drift.

Two kinds of examples are checked, in README.md and docs/*.md:
- ```sh blocks: each line (with its backslash continuations) that starts with `lowp` or
  `build/lowp` runs and must exit 0 (a trailing `# exit N` comment says another status).
  Other lines (make, pkg-config, ...) are not run. Unlabelled blocks are illustrations
  (placeholders such as MODEL or `…`) and are not run.
- a block right after a line `<!-- doctest: CMD -->` (a configuration, say) is written to a
  file in a folder beside models/ and CMD runs with `{file}` standing for it; it must exit 0.
- transcripts in any block: a line `$ lowp ...` runs, and the lines that follow it up to the
  next `$ ` line or the block's end must match its output line by line — numbers within a
  relative 1e-4 (another CPU's kernels may round the last printed digit differently),
  everything else exactly. Lines `...` in the expected output skip any number of actual lines.

Commands run in a scratch folder holding links to the checkout's models/, examples/, tests/ and
the build, so relative paths work as documented and outputs land in the scratch folder.
Prints `ok`/`FAIL` lines and the closing `docs: N passed, N failed`.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
FENCE = re.compile(r"^```(\w*)\s*$")
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


DIRECTIVE = re.compile(r"^<!--\s*doctest:\s*(.*?)\s*-->\s*$")


def blocks(path):
    """(language, first line number, lines, doctest directive or None) of each fenced block."""
    lang, start, body, prev, directive = None, 0, [], "", None
    for i, line in enumerate(open(path, encoding="utf-8"), 1):
        m = FENCE.match(line.rstrip("\n"))
        if m and lang is None:
            d = DIRECTIVE.match(prev)
            lang, start, body, directive = m.group(1), i + 1, [], d.group(1) if d else None
        elif line.startswith("```") and lang is not None:
            yield lang, start, body, directive
            lang = None
        elif lang is not None:
            body.append(line.rstrip("\n"))
        if lang is None and line.strip():
            prev = line.strip()


def joined(lines):
    """Lines with backslash continuations joined: (offset of the first, text)."""
    i = 0
    while i < len(lines):
        first, text = i, lines[i]
        while text.endswith("\\") and i + 1 < len(lines):
            i += 1
            text = text[:-1] + " " + lines[i].strip()
        yield first, text
        i += 1


def is_lowp(cmd):
    return re.match(r"(build/)?lowp(\s|$)", cmd) is not None


def run(cmd, cwd):
    """Runs a documented command with lowp meaning this build's program."""
    cmd = re.sub(r"^(build/)?lowp", shlex.quote(os.path.join(BUILD, "lowp")), cmd)
    p = subprocess.run(["sh", "-c", cmd], cwd=cwd, capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def same_line(want, got):
    wn, gn = NUMBER.findall(want), NUMBER.findall(got)
    if NUMBER.sub("#", want).rstrip() != NUMBER.sub("#", got).rstrip() or len(wn) != len(gn):
        return False
    return all(abs(float(a) - float(b)) <= 1e-4 * max(abs(float(a)), abs(float(b)), 1e-6) for a, b in zip(wn, gn))


def matches(want, got):
    """Expected lines against actual ones; '...' skips any number of actual lines."""
    if not want:
        return True
    if want[0].strip() == "...":
        return any(matches(want[1:], got[k:]) for k in range(len(got) + 1))
    return bool(got) and same_line(want[0], got[0]) and matches(want[1:], got[1:])


def main():
    docs = [os.path.join(ROOT, "README.md")] + sorted(
        os.path.join(ROOT, "docs", f) for f in os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md"))
    scratch = tempfile.mkdtemp(prefix="lowp_doctest_")
    for d in ("models", "examples", "tests", "tools"):
        os.symlink(os.path.join(ROOT, d), os.path.join(scratch, d))
    os.symlink(BUILD, os.path.join(scratch, "build"))
    os.mkdir(os.path.join(scratch, "doc"))
    passed = failed = 0

    def report(ok, name, why=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"ok {name}")
        else:
            failed += 1
            print(f"FAIL {name}: {why}")

    for path in docs:
        rel = os.path.relpath(path, ROOT)
        for n, (lang, start, body, directive) in enumerate(blocks(path)):
            if directive:
                file = os.path.join(scratch, "doc", f"{os.path.basename(path)}.{n}.{lang or 'txt'}")
                with open(file, "w", encoding="utf-8") as f:
                    f.write("\n".join(body) + "\n")
                cmd = directive.replace("{file}", shlex.quote(file))
                rc, out, err = run(cmd, scratch)
                tail = (err.strip().splitlines() or [""])[-1]
                report(rc == 0, f"{rel}:{start} block run as: {directive[:50]}", f"exit {rc}: {tail}")
            if lang == "sh":
                for off, cmd in joined(body):
                    text = cmd.strip()
                    if not is_lowp(text):
                        continue
                    m = re.search(r"#\s*exit\s+(\d+)\s*$", text)
                    want = int(m.group(1)) if m else 0
                    rc, out, err = run(text, scratch)
                    tail = (err.strip().splitlines() or [""])[-1]
                    report(rc == want, f"{rel}:{start + off} {text[:60]}", f"exit {rc}, want {want}: {tail}")
            lines = list(joined(body))
            for k, (off, line) in enumerate(lines):
                if not line.startswith("$ ") or not is_lowp(line[2:].strip()):
                    continue
                expected = []
                for _, nxt in lines[k + 1:]:
                    if nxt.startswith("$ "):
                        break
                    expected.append(nxt)
                rc, out, err = run(line[2:].strip(), scratch)
                got = (out + err).splitlines()
                ok = rc == 0 and matches(expected, got)
                report(ok, f"{rel}:{start + off} {line[2:62]}",
                       f"exit {rc}; expected {expected[:3]}, got {got[:3]}")
    print(f"docs: {passed} passed, {failed} failed")
    subprocess.run(["rm", "-rf", scratch])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
