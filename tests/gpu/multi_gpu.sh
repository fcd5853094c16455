#!/bin/sh
# tests/gpu/multi_gpu.sh - the tensor-parallel runs on a machine with several GPUs
# (issues 8 and 9), in one call:
#
#   bash .device/setup.sh && tests/gpu/multi_gpu.sh [BUILD_DIR] [MAX_GPUS] [bench]
#
# Correctness: N GPUs against one, through NCCL and through the peer-to-peer
# all-reduce, for the BF16, FP8 and INT8 tiny models (N = 2, 4: they have 4 heads)
# and the 8-head models of tests/tp/make_tp_models.py (N = 2, 4, 8), with the
# tolerances of tests/gpu/run.sh (tests/engine/tp_compare.c).  With "bench": llmchat
# --bench for the 8B and 70B shapes (random weights made on the GPUs) at 1, 2, 4, 8
# GPUs up to MAX_GPUS, through NCCL and peer-to-peer: prefill of 512 and 2048
# tokens, decode at 128 and 4096 of context, the all-reduce time per token.
# NCCL_NVLS_ENABLE=0 throughout (no NVLink multicast).  The last line of the checks
# is "N passed, N failed"; bench outputs go to BUILD_DIR/bench-*.txt and stdout.
set -u
export NCCL_NVLS_ENABLE=0
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build-gpu}
gpus=${2:-$(nvidia-smi -L | wc -l)}
mode=${3:-}
cd "$top" || exit 1
. "$top/tests/gpu/lib.sh"
build_with_cuda
check $? "build with CUDA"
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader
nvidia-smi topo -m 2>/dev/null | head -n $((gpus + 2))
python3 "$top/tests/tp/make_tp_models.py" tp-models
eval "$(make -s print-build-flags)"   # part_includes, part_libs
gcc -O2 -std=c11 -D_GNU_SOURCE $part_includes \
	-I/usr/local/cuda/include -fopenmp "$top/tests/engine/tp_compare.c" $part_libs \
	$(pkg-config --libs jansson libutf8proc ncursesw) -L/usr/local/cuda/lib64 -lcublasLt -lnccl -lcudart -lstdc++ -lm \
	-o tp_compare >tp_compare.build 2>&1
check $? "tp_compare builds"

counts() { # MAX: the rank counts 2, 4, 8 up to MAX, comma-free ("2 4")
	for n in 2 4 8; do [ "$n" -le "$1" ] && printf '%s ' "$n"; done | sed 's/ $//'
}
# tolerances on tp_compare's arbitrary text (the golden recital below is held tighter):
# INT8's per-rank dynamic scales move log-probs up to 0.29 nats there on the CPU too; the
# FP8 tensor cores' narrow accumulation alone puts one GPU 0.52 nats from the CPU there.
tp_tolerance() { case $1 in *fp8*) echo 1.0 ;; *int8*) echo 0.5 ;; *) echo 0.001 ;; esac; }
p2p_hung=no
for comm in nccl p2p; do
	for name in bf16 fp8 int8; do
		# the tiny models split up to 4 ways; the 8-head models serve 8 GPUs
		models="$top/tests/data/models/tiny-$name"
		[ "$gpus" -gt 4 ] && models="$models tp-models/tp8-$name"
		for model in $models; do
			limit=$gpus
			case $model in *tiny-*) [ "$limit" -gt 4 ] && limit=4 ;; esac
			label="$comm-$(basename "$model")"
			if [ "$comm" = p2p ] && [ "$p2p_hung" = yes ]; then
				check 1 "$label: skipped (the peer-to-peer all-reduce hung before)"
				continue
			fi
			LLMCHAT_TEST_BACKEND=cuda LLMCHAT_TEST_COMM=$comm timeout 90 ./tp_compare -r "$(counts "$limit" | tr ' ' ,)" \
				"$model" "$(tp_tolerance "$model")" >"multi-$label.tap" 2>&1
			[ $? -eq 124 ] && { [ "$comm" = p2p ] && p2p_hung=yes; check 1 "$label: finished within 90 s"; }
			grep -E '^(not ok|#)' "multi-$label.tap" | head -n 8
			grep -E 'log-probs' "multi-$label.tap" | sed "s/^/  $comm: /"
			passed=$((passed + $(grep -c '^ok' "multi-$label.tap")))
			failed=$((failed + $(grep -c '^not ok' "multi-$label.tap")))
			grep -q '^ok' "multi-$label.tap" || check 1 "$label: tp_compare ran"
		done
	done
done
# the 8-bit splits against the CPU: how far one GPU already is from the CPU on this
# text (FP8 tensor-core accumulation), next to how far 2 GPUs are
for name in fp8 int8; do
	LLMCHAT_TEST_BASELINE=cpu LLMCHAT_TEST_BACKEND=cuda LLMCHAT_TEST_COMM=nccl timeout 90 ./tp_compare -r 1,2 \
		"$top/tests/data/models/tiny-$name" 1.0 2>&1 | grep -E 'log-probs' | sed "s/^/  against the CPU (not counted): /"
done
model="$top/tests/data/models/tiny-int8"
echo "Who are you?" | timeout 60 ./src/llmchat -m "$model" --temp 0 --gpus 1 >one.txt 2>one.err
echo "Who are you?" | timeout 60 ./src/llmchat -m "$model" --temp 0 --gpus 2 >two.txt 2>two.err
check $? "llmchat --gpus 2 answers ($(head -n 1 two.err))"
cmp -s one.txt two.txt
check $? "... as one GPU does"
echo "Who are you?" | LLMCHAT_TEST_FAIL_RANK=1 timeout 60 ./src/llmchat -m "$model" --gpus 2 >/dev/null 2>fail.err
status=$?
[ "$status" -ne 0 ] && [ "$(wc -l <fail.err)" -le 2 ] && grep -q 'rank 1' fail.err
check $? "a failing rank stops every rank with one message (exit $status: $(tail -n 1 fail.err))"

if [ "$mode" = bench ]; then
	bench() { # CONFIG GPUS COMM [CTX]
		out="bench-$1-$2-$3.txt"
		[ "$3" != nccl ] && [ "$2" -gt 1 ] && [ "$p2p_hung" = yes ] && return
		timeout 120 ./src/llmchat --bench --dummy-weights "$top/tests/data/configs/$1" --gpus "$2" --comm "$3" \
			--ctx "${4:-4224}" >"$out" 2>&1
		echo "== $1, $2 GPU(s), $3 (exit $?)"
		cat "$out"
	}
	# one GPU: the 70B FP8 shape with an 8192-token context (does it fit one H200?)
	bench llama-3.1-70b-fp8 1 auto 8320
	bench llama-3.1-8b-fp8 1 auto
	for n in $(counts "$gpus"); do
		for config in llama-3.1-70b-fp8 llama-3.1-8b-fp8; do
			bench "$config" "$n" nccl
			bench "$config" "$n" p2p
			bench "$config" "$n" auto
		done
	done
	bench llama-3.1-70b-int8 1 auto
	for n in $(counts "$gpus"); do bench llama-3.1-70b-int8 "$n" auto; done
	bench llama-3.1-8b-int8 1 auto
fi

# the recital of the golden files (tests/engine/test_engine_ranks.c), through each communicator,
# and a rank failing in its creation and in its first forward (the others waiting in an
# all-reduce must stop); last, so that a hang there costs only its time limit
for comm in nccl p2p auto; do
	LLMCHAT_TEST_BACKEND=cuda LLMCHAT_TEST_COMM=$comm LLMCHAT_TEST_MAX_RANKS=$gpus timeout 90 ./tests/engine/test_engine_ranks \
		"$top/tests/data/models/tiny-bf16" "$top/tests/data/golden/tiny-bf16.json" 1e-3 \
		"$top/tests/data/models/tiny-fp8" "$top/tests/data/golden/tiny-fp8.json" 0.05 \
		"$top/tests/data/models/tiny-int8" "$top/tests/data/golden/tiny-int8.json" 2e-2 >"ranks-$comm.tap" 2>&1
	[ $? -eq 124 ] && check 1 "test_engine_ranks through $comm finished within 90 s"
	grep -E '^not ok|log-probs' "ranks-$comm.tap" | sed "s/^/  $comm: /"
	count_results "ranks-$comm.tap"
	grep -q '^ok' "ranks-$comm.tap" || check 1 "test_engine_ranks ran through $comm"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
