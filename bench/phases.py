#!/usr/bin/env python3
"""Per-step timings of two or more rbuild binaries on one context, interleaved round by round.

    python3 bench/phases.py ROUNDS MODE CONTEXT EDITED_FILE NAME=BINARY[:FLAGS]...

MODE is cold (each store removed first), noop, or touch (EDITED_FILE, relative to CONTEXT, gets
a line appended before every build). FLAGS are extra build flags, comma-separated (e.g.
`old=/tmp/rb-7defa48 new=target/release/rbuild:--network,host,--allow,network.host`).
Each `--progress plain` line is time-stamped as it arrives, so the printed medians split a
build into its steps (s1, s2, ... end at each DONE/CACHED line; `pull` at the base layer's
pull; `export` at "writing image"). The last column is the median of the per-round ratios of
the totals against the first binary. Stores live in /tmp/rbuild-phases-NAME.
"""

import re
import shutil
import statistics
import subprocess
import sys
import time


def parse(args):
    confs = {}
    for a in args:
        name, rest = a.split("=", 1)
        binary, _, flags = rest.partition(":")
        store = f"/tmp/rbuild-phases-{name}"
        cmd = [binary, "--root", store, "build", "--progress", "plain", "-t", "phases:1"]
        confs[name] = (cmd + [f for f in flags.split(",") if f], store)
    return confs


def build(cmd, ctx):
    """One build: (step name, ms since the previous mark) pairs and the total."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd + [ctx], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True, bufsize=1)
    marks, steps = [("start", t0)], 0
    for line in p.stderr:
        t = time.perf_counter()
        if line.startswith("pulled layer"):
            marks.append(("pull", t))
        elif re.match(r"#\d+ (DONE|CACHED)", line):
            steps += 1
            marks.append((f"s{steps}", t))
        elif line.startswith("exporting"):
            marks.append(("steps_end", t))
        elif line.startswith("writing image"):
            marks.append(("export", t))
    if p.wait() != 0:
        sys.exit(f"build failed: {' '.join(cmd)} {ctx}")
    t1 = time.perf_counter()
    marks.append(("end", t1))
    gaps = [(b, (tb - ta) * 1000) for (_, ta), (b, tb) in zip(marks, marks[1:])]
    return gaps, (t1 - t0) * 1000


def main():
    rounds, mode, ctx, edited = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    confs = parse(sys.argv[5:])
    if mode in ("noop", "touch"):
        for cmd, _ in confs.values():
            subprocess.run(cmd + [ctx], check=True, capture_output=True)
    phases = {k: {} for k in confs}
    totals = {k: [] for k in confs}
    for i in range(rounds):
        order = list(confs) if i % 2 == 0 else list(reversed(confs))
        for k in order:
            cmd, store = confs[k]
            if mode == "cold":
                shutil.rmtree(store, ignore_errors=True)
            elif mode == "touch":
                with open(f"{ctx}/{edited}", "a") as f:
                    f.write(f"# edit {time.time_ns()}\n")
            gaps, total = build(cmd, ctx)
            for step, ms in gaps:
                phases[k].setdefault(step, []).append(ms)
            totals[k].append(total)
    base = next(iter(confs))
    for k in confs:
        ratios = [a / b for a, b in zip(totals[k], totals[base])]
        steps = "  ".join(f"{s} {statistics.median(v):.1f}" for s, v in phases[k].items())
        print(f"{k:8} {steps}  total {statistics.median(totals[k]):.1f} ms"
              f"  paired {(statistics.median(ratios) - 1) * 100:+.1f}%")


if __name__ == "__main__":
    main()
