#!/usr/bin/env python3
"""bench/kernel_timeline.py - where a decode step's time goes, from bench/kernel_trace.c's CSV.

    python3 bench/kernel_timeline.py trace.csv [ANCHOR]

The trace holds the kernels of the timed greedy steps (llmchat --bench with
LLMCHAT_BENCH_PROFILE=decode; bench/kernel_trace.sh).  A step ends with its
argmax_final_kernel.  Kernels overlap (programmatic dependent launch starts a kernel's
blocks before the one it depends on ends), so a kernel's duration says little on its
own; what it costs the step is how far it moves the step's end: its end minus the latest
end before it ("adds", never negative).  The adds of a step sum to its span.

Prints the median step's span, the time no kernel ran, then by kernel name its launches a
step, its mean duration and the sum of its adds, then one layer as a sequence: the adds
of each position in a layer (a layer starts after each ANCHOR kernel, default
gemv_swiglu_kernel, so its first positions are down_proj and the next layer's norm),
averaged over the layers and steps.
"""
import csv
import re
import statistics
import sys
from collections import defaultdict


def short(name):
    """A kernel's name without its template arguments and parameters (CUPTI gives the
    mangled name: _Z, its length, the name)."""
    mangled = re.match(r"_Z(\d+)", name)
    if mangled:
        return name[mangled.end():mangled.end() + int(mangled.group(1))]
    return re.sub(r"[<(].*", "", name).strip()


def read_steps(path):
    with open(path) as f:
        rows = [(int(r["start_ns"]), int(r["end_ns"]), short(r["name"])) for r in csv.DictReader(f)]
    rows.sort()
    steps, step = [], []
    for row in rows:
        step.append(row)
        if row[2] == "argmax_final_kernel":
            steps.append(step)
            step = []
    return steps


def adds(step):
    """(name, duration, adds) of each kernel of a step, in start order."""
    out, latest = [], step[0][0]
    for start, end, name in step:
        out.append((name, end - start, max(0, end - latest)))
        latest = max(latest, end)
    return out


def idle(step):
    """Nanoseconds of the step's span in which no kernel ran."""
    gap, latest = 0, step[0][0]
    for start, end, _ in step:
        gap += max(0, start - latest)
        latest = max(latest, end)
    return gap


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: kernel_timeline.py TRACE.csv [ANCHOR]")
    anchor = sys.argv[2] if len(sys.argv) > 2 else "gemv_swiglu_kernel"
    steps = read_steps(sys.argv[1])
    if not steps:
        sys.exit("kernel_timeline: no step (no argmax_final_kernel) in the trace")
    spans = [s[-1][1] - s[0][0] for s in steps]
    print(f"{len(steps)} steps, {len(steps[0])} kernels each; span median {statistics.median(spans) / 1e3:.1f} us "
          f"(min {min(spans) / 1e3:.1f}); no kernel running {statistics.median(idle(s) for s in steps) / 1e3:.1f} us")
    launches, duration, added = defaultdict(int), defaultdict(int), defaultdict(int)
    for step in steps:
        for name, d, a in adds(step):
            launches[name] += 1
            duration[name] += d
            added[name] += a
    n = len(steps)
    span = statistics.mean(spans)
    print(f"{'kernel':40s} {'a step':>7s} {'mean duration':>14s} {'adds a step':>12s} {'share':>6s}")
    for name in sorted(added, key=lambda k: -added[k]):
        print(f"{name:40s} {launches[name] / n:7.1f} {duration[name] / launches[name] / 1e3:11.2f} us "
              f"{added[name] / n / 1e3:9.1f} us {100 * added[name] / n / span:5.1f}%")
    # one layer: positions after each anchor, averaged
    position_adds, position_names, layers = defaultdict(list), {}, 0
    for step in steps:
        seq = adds(step)
        marks = [i for i, (name, _, _) in enumerate(seq) if name == anchor]
        for a, b in zip(marks, marks[1:]):
            layers += 1
            for p, (name, d, x) in enumerate(seq[a + 1:b + 1]):
                position_adds[p].append((d, x))
                position_names.setdefault(p, name)
    if not layers:
        print(f"no two {anchor} launches in a step: no layer sequence")
        return
    print(f"one layer after {anchor}, mean of {layers} layers: position, kernel, duration, adds")
    total = 0
    for p in sorted(position_adds):
        d = statistics.mean(v[0] for v in position_adds[p])
        x = statistics.mean(v[1] for v in position_adds[p])
        total += x
        print(f"  {p:2d} {position_names[p]:40s} {d / 1e3:8.2f} us {x / 1e3:8.2f} us")
    print(f"  a layer: {total / 1e3:.1f} us")


if __name__ == "__main__":
    main()
