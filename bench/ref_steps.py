#!/usr/bin/python3
"""ref_steps.py [--lowp PATH] [--only a,b] [--settings latency,throughput] [--min-share S] [--markdown]

Which steps of the real-model set (bench/realmodels.py's models, the files bench/realmodels.sh
build made in bench/out/real/) still run on lowp's reference kernels, and what they cost.
Runs `lowp bench --profile --json` on every FP32 and INT8 file (lowp's QDQ export, the QOperator
export and the ORT-style dynamic file where there are, IS-Net's ORT-quantized file when it is cached) at batch 1 / 1 thread
and batch 16 / 2 threads (batch 1 where the model's batch dim is fixed) and prints every step
whose kernel is `reference` with its median time per run and its share of the run (the sum of
the step medians), sorted by share, then the total reference share per file. Steps under
--min-share (default 0.5 %) are counted in the totals but not listed.

Times are single `lowp bench` runs (no interleaving with ORT): fine for "what is still on the
reference kernel and roughly how much", not for speed claims (bench/realmodels.sh for those).
Files that are missing are reported and skipped (make them with bench/realmodels.sh build --only NAME)."""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import realmodels as rm  # noqa: E402  (MODELS, OUT, vad_inputs: the same files and inputs)

# the kernels that are not fast paths ("view" steps do no work; a "control" step -- If, Loop,
# Scan -- runs a sub-plan whose own steps are not profiled one by one)
SLOW = {"reference"}


def files_of(name):
    """[(tag, path)] of the model's FP32 and INT8 files that exist."""
    out = []
    for tag, f in (("fp32", f"{name}.fp32.onnx"), ("int8", f"{name}.int8.onnx"), ("qop", f"{name}.qop.onnx"),
                   ("ortdyn", f"{name}.ortdyn.onnx")):
        p = os.path.join(rm.OUT, f)
        if os.path.exists(p):
            out.append((tag, p))
    if name == "isnet":
        p = os.path.join(rm.CACHE, "models", "isnet_small_from_chunks.onnx")
        if os.path.exists(p):
            out.append(("ortq", p))
    return out


def bench(lowp, path, batch, threads, feeds, iters, warmup):
    cmd = [lowp, "bench", path, "--threads", str(threads), "--iters", str(iters), "--warmup", str(warmup),
           "--profile", "--json", "-q"]
    if feeds:
        for f in feeds:
            cmd += ["-i", f]
    elif batch > 1:  # models whose batch dim is fixed run at batch 1 (no --batch)
        cmd += ["--batch", str(batch)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(" ".join([x for x in r.stderr.strip().splitlines() if not x.startswith("see ")][-1:]) or "?")
    return json.loads(r.stdout)["profile"]


def profile(lowp, path, batch, threads, feeds, budget_ms):
    """One short run to size the timed one: about budget_ms of timed runs, 3..200 iterations."""
    p = bench(lowp, path, batch, threads, feeds, 3, 1)
    if p["steps_ms"] * 3 >= budget_ms:
        return p
    iters = max(3, min(200, int(budget_ms / max(p["steps_ms"], 1e-3))))
    return bench(lowp, path, batch, threads, feeds, iters, 5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lowp", default=os.path.join(rm.ROOT, "build", "lowp"))
    ap.add_argument("--only", default="")
    ap.add_argument("--settings", default="latency,throughput")
    ap.add_argument("--min-share", type=float, default=0.005)
    ap.add_argument("--budget-ms", type=float, default=1500, help="timed runs per file and setting, roughly")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", help="also write the rows here")
    a = ap.parse_args()
    lowp = os.path.abspath(a.lowp)
    only = set(filter(None, a.only.split(",")))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=rm.ROOT, capture_output=True,
                            text=True).stdout.strip()
    head = f"commit {commit}; load average at start {os.getloadavg()[0]:.1f}"
    rows, totals, seen = [], [], set()
    for spec in rm.MODELS:
        name, batchable = spec[0], spec[4]
        if only and name not in only:
            continue
        fl = files_of(name)
        if not fl:
            rm.log(f"ref_steps: {name}: no files in {rm.OUT} (bench/realmodels.sh build --only {name})")
            continue
        with open(fl[0][1], "rb") as f:
            key = hash(f.read())
        if key in seen:  # silero-vad-legacy is silero-vad-v4's bytes
            continue
        seen.add(key)
        for s in a.settings.split(","):
            batch, threads = (1, 1) if s == "latency" else ((16 if batchable else 1), 2)
            feeds = rm.vad_inputs(name, spec[5], batch) if isinstance(spec[5], str) else ()
            for tag, path in fl:
                label = f"b{batch} t{threads}"
                rm.log(f"ref_steps: {name} {tag} {label}")
                try:
                    p = profile(lowp, path, batch, threads, feeds, a.budget_ms)
                except RuntimeError as e:
                    rm.log(f"ref_steps: {name} {tag} {label}: {e}")
                    totals.append((name, tag, label, None, 0, 0, str(e)))
                    continue
                tot = p["steps_ms"] or 1e-9
                ref = [st for st in p["steps"] if st["kernel"] in SLOW]
                ref_ms = sum(st["ms"] for st in ref)
                totals.append((name, tag, label, tot, ref_ms, len(ref), ""))
                for st in ref:
                    rows.append({"model": name, "file": tag, "setting": label, "ops": st["ops"],
                                 "node": ",".join(st["nodes"]), "ms": st["ms"], "share": st["ms"] / tot})
    rows.sort(key=lambda r: -r["share"])
    shown = [r for r in rows if r["share"] >= a.min_share]
    print(head)
    cols = ["model", "file", "setting", "op", "node", "ms", "share"]
    body = [[r["model"], r["file"], r["setting"], r["ops"], r["node"][:40], f"{r['ms']:.4g}",
             f"{100 * r['share']:.1f}%"] for r in shown]
    cols2 = ["model", "file", "setting", "run ms (steps)", "reference ms", "reference share", "reference steps"]
    body2 = [[n, t, lab, "-" if tot is None else f"{tot:.4g}", f"{ref:.3g}",
              "-" if tot is None else f"{100 * ref / tot:.1f}%", why or str(k)]
             for n, t, lab, tot, ref, k, why in totals]
    for c, b, text_cols in ((cols, body, 5), (cols2, body2, 3)):
        rm.print_table(c, b, a.markdown, range(text_cols, len(c)))
        print()
    print(f"steps under {100 * a.min_share:.1f}% of their run not listed ({len(rows) - len(shown)}); "
          f"load average at end {os.getloadavg()[0]:.1f}")
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump({"head": head, "steps": rows, "totals": totals}, f, indent=1)
        os.rename(a.json + ".tmp", a.json)


if __name__ == "__main__":
    main()
