#!/bin/sh
# bench/profile_decode.sh - where a decoded token's time goes, kernel by kernel (device machine).
#
#   bench/profile_decode.sh BUILD_DIR CONFIG [SKIP] [COUNT] [decode|verify|prefill]
#
# Runs `llmchat --bench --dummy-weights CONFIG` under Nsight Compute, which times COUNT
# kernels (default 720: two decode steps of the 8B shape) after skipping SKIP (default
# 0) inside the profiler range --bench opens around the timed greedy steps of its first
# decode run at 128 of context (cudaProfilerStart / Stop, mode_bench.c; the ceilings,
# prefills and warm-up steps are outside it: --profile-from-start off), each
# kernel alone (--cache-control none --clock-control none: the GPU's own clocks, warm
# caches; inside the CUDA graph each node is a kernel of its own).  Prints the time by
# kernel, summed over the window and divided by the steps the window holds (the count
# of argmax_final launches), next to the decode step the bench measures: the difference
# is what launches and the gaps between them cost.  With "verify" last, the window is
# speculative decoding's greedy verify pass of 1+8 tokens instead (the first timed run of
# "verify 1+8 at 128, argmax"), and the times are per pass (one argmax_final launch a
# pass, for all its rows); with "prefill", the first prefill of 2048 tokens, the times
# those of the one prefill ($LLMCHAT_BENCH_PROFILE picks the window).
set -u
build=${1:?usage: profile_decode.sh BUILD_DIR CONFIG [SKIP] [COUNT]}
config=${2:?usage: profile_decode.sh BUILD_DIR CONFIG [SKIP] [COUNT]}
skip=${3:-0}
count=${4:-720}
what=${5:-decode}
export LLMCHAT_BENCH_PROFILE="$what"
csv=${TMPDIR:-/tmp}/profile_decode.$$.csv
ncu --profile-from-start off --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv \
	--print-units base \
	--launch-skip "$skip" --launch-count "$count" \
	"$build/src/llmchat" --bench --dummy-weights "$config" --ctx 4224 >"$csv" 2>&1
status=$?
grep -E 'decode 128, greedy|verify 1\+8 at 128, argmax|prefill 2048 tokens' "$csv" | head -n 3
python3 - "$csv" "$what" <<'PY'
import csv, re, sys
rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
if not rows:
    sys.exit("no kernel timings in the ncu output")
head = rows[0]
name_col, value_col, metric_col = head.index("Kernel Name"), head.index("Metric Value"), head.index("Metric Name")
totals, counts = {}, {}
for r in rows[1:]:
    if len(r) <= value_col or r[metric_col] != "gpu__time_duration.sum":
        continue
    name = re.sub(r"[<(].*", "", r[name_col]).strip()
    totals[name] = totals.get(name, 0) + float(r[value_col].replace(",", ""))
    counts[name] = counts.get(name, 0) + 1
steps = 1 if sys.argv[2] == "prefill" else max(1, counts.get("argmax_final_kernel", 0))
total = sum(totals.values())
print(f"{sum(counts.values())} kernels timed, {steps} decode step(s), verify pass(es) or prefill(s): {total / steps / 1e3:.1f} us of kernels each")
for name, t in sorted(totals.items(), key=lambda kv: -kv[1]):
    print(f"  {name:40s} {counts[name] / steps:6.1f} launches {t / steps / 1e3:9.1f} us  {100 * t / total:5.1f}%")
PY
rm -f "$csv"
exit $status
