#!/usr/bin/env python3
"""bench/speculation_projection.py - the tokens/s speculative decoding would give, from
`llmchat --bench` outputs of a target and a draft (issue 21's projection).

    speculation_projection.py TARGET_BENCH.txt DRAFT_BENCH.txt [NAME]

Reads the target's greedy step at 128 of context ("decode 128, greedy") and its verify
passes ("verify 1+k at 128, argmax"), and the draft's greedy step.  A speculative step
proposes k tokens (k draft steps) and verifies them in one pass; at acceptance rate a
(each proposal kept with probability a, independently) it yields
E = (1 - a^(k+1)) / (1 - a) tokens, so tokens/s = E / (t_verify(k) + k * t_draft).
Prints, for each measured k and a in 0.5, 0.7, 0.9, that rate and its ratio to plain
decoding (1 / t_step).  A projection from measured times, not a measured rate.
"""
import re
import sys


def times(path):
    step, verify = None, {}
    for line in open(path):
        m = re.match(r"decode 128, greedy\s+([\d.]+) ms", line)
        if m:
            step = float(m.group(1))
        m = re.match(r"verify 1\+(\d+) at 128, argmax\s+([\d.]+) ms", line)
        if m:
            verify[int(m.group(1))] = float(m.group(2))
    if step is None:
        sys.exit(f"{path}: no 'decode 128, greedy' row")
    return step, verify


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    t_step, verify = times(sys.argv[1])
    t_draft, _ = times(sys.argv[2])
    name = sys.argv[3] if len(sys.argv) > 3 else "target + draft"
    print(f"{name}: target step {t_step:.2f} ms ({1e3 / t_step:.1f} tok/s), draft step {t_draft:.2f} ms")
    for k, t_verify in sorted(verify.items()):
        cells = []
        for a in (0.5, 0.7, 0.9):
            expected = (1 - a ** (k + 1)) / (1 - a)
            rate = expected / ((t_verify + k * t_draft) / 1e3)
            cells.append(f"a={a}: {rate:.1f} tok/s ({rate * t_step / 1e3:.2f}x)")
        print(f"  k={k}: verify {t_verify:.2f} ms ({t_verify / t_step:.2f}x a step); " + "; ".join(cells))


if __name__ == "__main__":
    main()
