#!/bin/bash
# bench/peers/run.sh - llama.cpp (Q8_0, llama-bench) beside llmchat (FP8, INT8, --bench) on this GPU,
# the Llama-3.1-8B shape with random weights, in one device call.
#
#   bash .device/setup.sh && autoreconf -fi && ./configure && make -j16 && bash bench/peers/run.sh .
#
# Argument: the build folder of llmchat (holding src/llmchat).  Needs the ignored, carried folder
# bench/peers/llama.cpp/ (README.md says what it holds): src/gguf-py and bin/llama-bench.  Where
# bin/llama-bench is absent or does not run, the folder's own setup.sh (not part of this repository)
# is run to make it there.  Writes into $OUT (./out when unset): llama-bench.json and .log,
# llmchat-fp8.txt, llmchat-int8.txt, the GGUF's .json, table.md (the comparison) and peers.json.
# Env: GGUF (where the 8.5 GB GGUF goes; default /tmp/llama-3.1-8b-random-q8_0.gguf, reused when
# present), LLAMA_BENCH (another llama-bench), LLMCHAT_VERSION (text for the table), PYTHON (a python3
# with numpy, for the GGUF writer).
set -u
build=$(cd "${1:?usage: bench/peers/run.sh LLMCHAT_BUILD_DIR}" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/bench/peers
peer=$here/llama.cpp
out=${OUT:-./out}
mkdir -p "$out" && out=$(cd "$out" && pwd)
gguf=${GGUF:-/tmp/llama-3.1-8b-random-q8_0.gguf}
llama_bench=${LLAMA_BENCH:-$peer/bin/llama-bench}
llama_commit=$(cat "$peer/COMMIT" 2>/dev/null || echo unknown)
export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export NCCL_NVLS_ENABLE=0
t_start=$(date +%s)

say() { echo "== $* (+$(($(date +%s) - t_start)) s)"; }
runs() { "$1" --help 2>&1 | grep -q '^usage:'; }

device=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
nvidia-smi > "$out/nvidia-smi.txt" 2>&1
say "device: $device; llama.cpp $llama_commit; output in $out"

# 1. the GGUF (one CPU core and the disk) in the background, while llama-bench is made if it must be
#    and llmchat runs (its GPU work does not wait on the host's other cores)
if [ -s "$gguf" ] && [ -s "$gguf.json" ]; then
	say "reusing $gguf"
	gguf_pid=
elif [ "$(df -Pk "$(dirname "$gguf")" | awk 'NR == 2 {print $4}')" -lt 10000000 ]; then
	echo "run.sh: less than 10 GB free in $(dirname "$gguf") for the 8.5 GB GGUF (set GGUF=)" >&2
	gguf_pid=
else
	say "writing $gguf"
	"${PYTHON:-python3}" "$here/make_gguf_q8.py" --gguf-py "$peer/src/gguf-py" "$top/tests/data/configs/llama-3.1-8b-bf16" \
		"$gguf" > "$out/make_gguf.log" 2>&1 &
	gguf_pid=$!
fi
if ! runs "$llama_bench"; then
	if [ -f "$peer/setup.sh" ]; then
		say "no runnable $llama_bench: running the carried folder's setup.sh (log: llama-build.log)"
		timeout 420 bash "$peer/setup.sh" "$(nproc)" > "$out/llama-build.log" 2>&1
		tail -3 "$out/llama-build.log"
	fi
fi
llama_ok=1
runs "$llama_bench" || { echo "run.sh: no runnable llama-bench at $llama_bench" >&2; llama_ok=0; }

# 2. llmchat, FP8 then INT8 (each measures the copy bandwidth and GEMM rates first)
version=${LLMCHAT_VERSION:-$("$build/src/llmchat" --version 2>/dev/null | awk 'NR == 1 {print $2}')}
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null) && version="$version ($commit)"
tables=()
for fmt in fp8 int8; do
	say "llmchat --bench llama-3.1-8b-$fmt"
	timeout 240 "$build/src/llmchat" --bench --dummy-weights "$top/tests/data/configs/llama-3.1-8b-$fmt" \
		> "$out/llmchat-$fmt.txt" 2>&1
	rc=$?
	cat "$out/llmchat-$fmt.txt"
	[ $rc -eq 0 ] && tables+=(--llmchat "$fmt=$out/llmchat-$fmt.txt") || echo "run.sh: llmchat $fmt: exit $rc" >&2
done

# 3. llama.cpp: prefill 512 and 2048, decode 128, without and with flash attention, all layers on the GPU
[ -n "$gguf_pid" ] && say "waiting for the GGUF"
if [ -n "$gguf_pid" ] && ! wait "$gguf_pid"; then
	echo "run.sh: make_gguf_q8.py failed:" >&2
	tail -5 "$out/make_gguf.log" >&2
	llama_ok=0
fi
if [ -s "$gguf" ] && [ -s "$gguf.json" ]; then
	cp "$gguf.json" "$out/gguf.json"
	cat "$out/make_gguf.log" 2> /dev/null
else
	llama_ok=0
fi
if [ $llama_ok -eq 1 ]; then
	say "llama-bench"
	timeout 300 "$llama_bench" -m "$gguf" -p 512,2048 -n 128 -fa 0,1 -ngl 99 -o json \
		> "$out/llama-bench.json" 2> "$out/llama-bench.log"
	rc=$?
	[ $rc -eq 0 ] || { echo "run.sh: llama-bench: exit $rc" >&2; tail -20 "$out/llama-bench.log" >&2; }
	grep -E '"(n_prompt|n_gen|flash_attn|avg_ts)"' "$out/llama-bench.json" | paste - - - - || true
fi

# 4. the table
say "table"
[ -s "$out/llama-bench.json" ] || echo '[]' > "$out/llama-bench.json"
python3 "$here/peers_table.py" --llama-json "$out/llama-bench.json" --gguf-info "$out/gguf.json" \
	--llama-commit "${llama_commit:0:12}" --llmchat-version "$version" --device "$device" \
	--shape "Llama-3.1-8B" --json "$out/peers.json" "${tables[@]}" | tee "$out/table.md"
rc=${PIPESTATUS[0]}
say "done"
exit "$rc"
