#!/usr/bin/python3
"""cpu_per_run.py [--lowp PATH] [--lo N] [--hi N] [--pairs N] MODEL [lowp bench options...]

CPU time per run of `lowp bench MODEL` (user + system of the child process), from the
difference between a --hi-iteration and a --lo-iteration run (so loading, compiling and warm-up
cancel out), the median over --pairs pairs. Preemption costs wall time, not CPU time, so on a
loaded machine this is the honest measure of the work a one-thread run does: what
docs/performance.md ("Where INT8 does not pay") compares FP32 and INT8 with. With more than one
thread it also counts OpenMP's spin-waiting, so use it for --threads 1 (the default here). Not
immune either: a busy sibling hyperthread or a shared cache slows the work itself, so compare
runs taken side by side (before/after interleaved), not across hours.
The resolution is the kernel's CPU-time tick (10 ms) over hi - lo runs: choose hi - lo so that
the difference spans many ticks.

example: bench/cpu_per_run.py bench/out/real/paddleocr-det.int8.onnx --batch 16 --lo 3 --hi 11"""
import argparse
import os
import statistics
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def cpu_seconds(lowp, model, iters, extra):
    """CPU seconds of one `lowp bench` child with `iters` timed runs."""
    before = os.times()
    r = subprocess.run([lowp, "bench", model, "--warmup", "3", "--iters", str(iters), "--quiet"] + extra,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1")))
    if r.returncode != 0:
        sys.exit(f"cpu_per_run: lowp bench {model} failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    after = os.times()
    return (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main():
    ap = argparse.ArgumentParser(formatter_class=argparse.RawDescriptionHelpFormatter, usage=__doc__.splitlines()[0], description=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--lowp", default=os.path.join(ROOT, "build", "lowp"))
    ap.add_argument("--lo", type=int, default=20)
    ap.add_argument("--hi", type=int, default=80)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("model")
    a, extra = ap.parse_known_args()
    if a.hi <= a.lo or a.lo < 1 or a.pairs < 1:
        ap.error("want 1 <= --lo < --hi and --pairs >= 1")
    if "--threads" not in extra and "-t" not in extra:
        extra += ["--threads", "1"]
    per = [(cpu_seconds(a.lowp, a.model, a.hi, extra) - cpu_seconds(a.lowp, a.model, a.lo, extra)) / (a.hi - a.lo)
           * 1e3 for _ in range(a.pairs)]
    print(f"{statistics.median(per):.3f} ms CPU per run (pairs: {', '.join(f'{x:.3f}' for x in per)}; "
          f"load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
