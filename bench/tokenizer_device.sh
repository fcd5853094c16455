#!/bin/sh
# bench/tokenizer_device.sh - tokenizer speed against Python's native tiktoken
# (Rust core), for a machine that has Python tiktoken but no node.
#
#   bench/tokenizer_device.sh TOKENIZER_JSON BENCH_BINARY [SIZE_MB]
#
# Run from a checkout (it reads bench/make_tokenizer_text.py and the corpus it
# draws from).  TOKENIZER_JSON is Llama 3's tokenizer.json; BENCH_BINARY is a
# bench/tokenizer_bench built without sanitizers (`make bench`).  Builds
# tiktoken.Encoding from the tokenizer.json's vocabulary (GPT-2 byte-level strings
# decoded to bytes, rank = id) with Llama 3's pattern, encodes the same SIZE_MB
# (default 20) MB of text with both on one thread (best of three), and prints a
# table and whether the ids are the same.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 TOKENIZER_JSON BENCH_BINARY [SIZE_MB]" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
tokenizer_json=$1
bench=$2
size=${3:-20}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tokenizer-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
python3 "$top/bench/make_tokenizer_text.py" "$size" >"$tmp/text.txt"
"$bench" "$tokenizer_json" "$tmp/text.txt" "$tmp/ours.ids" >"$tmp/ours"
PYTHONPATH="$top/bench" python3 - "$tokenizer_json" "$tmp/text.txt" "$tmp/native.ids" >"$tmp/native" <<'PY'
import sys, time
import tiktoken
from llama3_tiktoken import llama3_encoding

tokenizer_path, text_path, ids_path = sys.argv[1:4]
best_load = None
for _ in range(3):
    start = time.perf_counter()
    enc = llama3_encoding(tokenizer_path)
    elapsed = time.perf_counter() - start
    best_load = elapsed if best_load is None else min(best_load, elapsed)
with open(text_path, encoding="utf-8", newline="") as f:  # keep \r\n as it is
    text = f.read()
size = len(text.encode("utf-8"))
best = None
for _ in range(3):
    start = time.perf_counter()
    ids = enc.encode_ordinary(text)
    elapsed = time.perf_counter() - start
    best = elapsed if best is None else min(best, elapsed)
with open(ids_path, "w") as f:
    f.write(" ".join(map(str, ids)) + "\n")
print(f"load_ms {best_load * 1e3:.1f}")
print(f"bytes {size}")
print(f"ids {len(ids)}")
print(f"mb_per_s {size / best / 1e6:.2f}")
print(f"version {tiktoken.__version__ if hasattr(tiktoken, '__version__') else '?'}")
PY

get() { sed -n "s/^$2 //p" "$1"; }
if cmp -s "$tmp/ours.ids" "$tmp/native.ids"; then same=yes; else same=NO; fi
ours=$(get "$tmp/ours" mb_per_s)
native=$(get "$tmp/native" mb_per_s)
cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo 2>/dev/null | head -n1)
echo "text: $(get "$tmp/ours" bytes) bytes (bench/make_tokenizer_text.py $size); ${cpu:-$(uname -m)}, $(nproc) cores, $(date -u +%Y-%m-%d)"
printf '%-38s %10s %12s %10s\n' "encoder" "load ms" "encode MB/s" "ids"
printf '%-38s %10s %12s %10s\n' "llmchat (C, tokenizer.json)" "$(get "$tmp/ours" load_ms)" "$ours" "$(get "$tmp/ours" ids)"
printf '%-38s %10s %12s %10s\n' "Python tiktoken $(get "$tmp/native" version) (Rust, native)" "$(get "$tmp/native" load_ms)" "$native" "$(get "$tmp/native" ids)"
echo "speed-up: $(echo "$ours $native" | awk '{printf "%.1fx", $1 / $2}'); same ids: $same"
[ "$same" = yes ]
