#!/usr/bin/env python3
"""Before/after timing of two rbuild binaries on one bench case, interleaved.

bench/run.sh calls it per case when BENCH_BASELINE names the "before" binary. Measuring one
binary after the other lets the machine drift between them (page cache, ext4's inode
allocator after large deletions, other load): here every round runs both, in alternating
order (AB, BA, AB, ...), each on its own store, so drift hits both alike.

    ab.py measure --case NAME --runs N --out FILE.json \
        --build-a CMD --prune-a CMD --build-b CMD --prune-b CMD --touch CMD [--push-a CMD
        --push-b CMD --prune-push CMD]
    ab.py report DIR [DIR...]   # the markdown table of DIR/ab-*.json (rounds of several runs of
                                # the same two binaries pooled), with the largest slowdown

A is the baseline ("before"), B the binary under test ("after"). Commands are shell lines.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def run(cmd, timed=False):
    """Runs a shell line; returns its wall time in seconds when timed (output discarded)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode(errors="replace")[-3000:])
        raise SystemExit(f"failed ({proc.returncode}): {cmd}")
    return elapsed if timed else None


def rounds(runs, a, b):
    """Yields (label, side) pairs: AB, BA, AB, ... for `runs` rounds."""
    for r in range(runs):
        order = [("a", a), ("b", b)] if r % 2 == 0 else [("b", b), ("a", a)]
        yield from order


def measure(args):
    sides = {
        "a": {"build": args.build_a, "prune": args.prune_a, "push": args.push_a},
        "b": {"build": args.build_b, "prune": args.prune_b, "push": args.push_b},
    }
    times = {m: {"a": [], "b": []} for m in ("cold", "noop", "touch")}
    for side in sides.values():  # untimed: the first run of a binary reads it from disk
        run(side["prune"])
        run(side["build"])
    for label, side in rounds(args.runs, sides["a"], sides["b"]):
        run(side["prune"])
        times["cold"][label].append(run(side["build"], timed=True))
    for side in sides.values():  # the warm-up of the rebuilds
        run(side["build"])
    for label, side in rounds(args.runs, sides["a"], sides["b"]):
        times["noop"][label].append(run(side["build"], timed=True))
    for label, side in rounds(args.runs, sides["a"], sides["b"]):
        run(args.touch)
        times["touch"][label].append(run(side["build"], timed=True))
    if args.push_a and args.push_b:
        times["push"] = {"a": [], "b": []}
        for label, side in rounds(args.runs, sides["a"], sides["b"]):
            run(args.prune_push)
            times["push"][label].append(run(side["push"], timed=True))
    with open(args.out, "w") as f:
        json.dump({"case": args.case, "runs": args.runs, "times": times}, f, indent=1)
    for mode, t in times.items():
        print("   %-28s %s" % (f"{args.case} {mode}", line(t)))


def summary(t):
    """Medians of A and B, the change of the medians and the median of the paired ratios."""
    a, b = statistics.median(t["a"]), statistics.median(t["b"])
    ratios = [y / x for x, y in zip(t["a"], t["b"])]
    return a, b, b / a - 1, statistics.median(ratios) - 1


def ms(s):
    return f"{s * 1000:.0f} ms" if s >= 0.01 else f"{s * 1000:.1f} ms"


def line(t):
    a, b, change, paired = summary(t)
    return f"{ms(a)} -> {ms(b)} ({change:+.1%}; paired {paired:+.1%}; n={len(t['a'])})"


def pooled(dirs):
    """{(case, mode): {"a": [...], "b": [...]}} over every ab-*.json of `dirs`, in order."""
    cells = {}
    for d in dirs:
        for name in sorted(f for f in os.listdir(d) if f.startswith("ab-") and f.endswith(".json")):
            with open(os.path.join(d, name)) as f:
                data = json.load(f)
            for mode, t in data["times"].items():
                cell = cells.setdefault((data["case"], mode), {"a": [], "b": []})
                cell["a"] += t["a"]
                cell["b"] += t["b"]
    return cells


def report(args):
    worst = (None, -1.0)
    out = ["| case | measure | before | after | change of the medians | median of paired ratios | runs |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for (case, mode), t in pooled(args.dirs).items():
        a, b, change, paired = summary(t)
        out.append(f"| {case} | {mode} | {ms(a)} | {ms(b)} | {change:+.1%} | "
                   f"{paired:+.1%} | {len(t['a'])} |")
        if change > worst[1]:
            worst = (f"{case} {mode}", change)
    if worst[0] is not None:
        out.append("")
        out.append(f"Largest slowdown (change of the medians): {worst[0]}, {worst[1]:+.1%}.")
    print("\n".join(out))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--case", required=True)
    m.add_argument("--runs", type=int, required=True)
    m.add_argument("--out", required=True)
    for side in ("a", "b"):
        m.add_argument(f"--build-{side}", required=True)
        m.add_argument(f"--prune-{side}", required=True)
        m.add_argument(f"--push-{side}")
    m.add_argument("--touch", required=True)
    m.add_argument("--prune-push")
    r = sub.add_parser("report", help="one table, pooling the rounds of every DIR given")
    r.add_argument("dirs", nargs="+", metavar="DIR")
    args = p.parse_args()
    if args.what == "measure":
        if args.runs < 2:
            raise SystemExit("--runs must be at least 2 (one round of each order)")
        measure(args)
    else:
        report(args)


if __name__ == "__main__":
    main()
