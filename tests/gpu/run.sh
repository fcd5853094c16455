#!/bin/sh
# tests/gpu/run.sh - the GPU checks, in one call on the device machine (see
# ../shared/device/README.md; it needs a CUDA GPU, so `make check` never runs it).
#
#   bash .device/setup.sh && tests/gpu/run.sh [BUILD_DIR]
#
# Builds llmchat with CUDA (no sanitizers) in BUILD_DIR (default build-gpu), then:
#   - the transformers goldens of every tiny model through the CUDA backend
#     (tests/engine/test_golden with LLMCHAT_TEST_BACKEND=cuda: per-token log-probs within
#     1e-3 nats (0.05 for FP8, whose prefill runs on the FP8 tensor cores), greedy
#     continuations token for token);
#   - the program as a user runs it: the default backend is the GPU, its greedy answer
#     equals the CPU backend's and the reference's; --perplexity agrees with --cpu;
#   - speculative decoding's verify pass: each token the one-token step's bits
#     (verify_checks.cu, bench/verify_rows.c), --lookup and --draft-model answers
#     the plain greedy ones (tests/cli/speculation.sh).
# The last line is "N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build-gpu}
cd "$top" || exit 1
. "$top/tests/gpu/lib.sh"
build_with_cuda
check $? "build with CUDA"
grep -q '^#define HAVE_CUDA 1' config.h
check $? "configure found CUDA"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

gencode=$(sed -n 's/^CUDA_GENCODE = //p' Makefile) # configure's --with-cuda-arch, as nvcc flags
eval "$(make -s print-build-flags)"   # part_includes, part_libs: the parts' include paths and libraries

# a check program: tests/gpu/NAME.cu built against the kernels and LIBS, run, its results
# counted, and at least MIN of its checks passed
check_program() { # NAME MIN LIBS...
	name=$1 min=$2
	shift 2
	nvcc -O3 -std=c++17 $gencode $part_includes "$top/tests/gpu/$name.cu" kernels/libkernels.a "$@" -lcudart \
		-o "$name" >"$name.build" 2>&1
	check $? "$name builds"
	./"$name" >"$name.out" 2>&1
	grep -v '^ok' "$name.out" | grep -v 'passed, .* failed'
	count_results "$name.out"
	[ "$(grep -c '^ok' "$name.out")" -ge "$min" ]
	check $? "$name ran its checks ($(grep -c '^ok' "$name.out") ok)"
}
# the kernels against float64 or their unfused forms, and their speed, in programs of their own
# (MIN: every check each runs, loops counted).  The linear layers' products: llmk_linear,
# the GEMV's layouts and fused forms, the cuBLASLt GEMMs, the decode GEMV's bandwidth
# (linear_checks.cu; the table in gemv_timings.tsv)
check_program linear_checks 102 src/model/libmodel.a -lcublasLt
# the 8-bit GEMV on the tensor cores (llmk_gemv_products): against float64, each token of a
# pass the bits of its one-token launch, INT8 the dp4a kernel's bits; its speed at 1 and 9
# tokens beside the CUDA cores' (gemv_mma_checks.cu)
check_program gemv_mma_checks 184 src/model/libmodel.a
# the attention kernels over the KV cache and the decode attention's bandwidth
# (attention_checks.cu; the table in attention_timings.tsv)
check_program attention_checks 271 src/model/libmodel.a -lcublasLt
# the tensor-core prefill attention against float64, its refusals, its quantized output,
# q rotated as it is read, and its rate (attention_prefill_checks.cu)
check_program attention_prefill_checks 57 src/model/libmodel.a -lcublasLt
# between the products, bit for bit: quantize, the KV stores, argmax, norm and SwiGLU +
# quantize, residual add + norm, RoPE + KV store (activation_checks.cu)
check_program activation_checks 380 src/model/libmodel.a -lcublasLt

cat_sass() { for o in kernels/llm_kernels.o kernels/gemv_kernels.o kernels/attention_kernels.o; do cuobjdump --dump-sass "$o"; done; }
cat_sass >llm_kernels.sass 2>&1
# every GEMV kernel (gemv_kernel, gemv_split_kernel, gemv_swiglu_kernel, each instantiation):
# its weights in 16-byte loads, and no local memory
gemv_sass() { awk '/Function : /{f = ($0 ~ /gemv_/)} f' llm_kernels.sass; }
without_128=$(awk '/Function : /{if (name != "" && !wide) print name; name = ($0 ~ /gemv_/) ? $3 : ""; wide = 0}
	/LDG.E.128/{wide = 1} END {if (name != "" && !wide) print name}' llm_kernels.sass)
[ "$(gemv_sass | grep -c 'Function : ')" -gt 0 ] && [ -z "$without_128" ]
check $? "every GEMV kernel loads its weights 16 bytes at a time (LDG.E.128 in its SASS)${without_128:+; not: $without_128}"
gemv_sass | grep -Eq 'LDL|STL'
[ $? -ne 0 ]
check $? "the GEMV kernels use no local memory (no LDL/STL)"
# kernels whose 32-byte stack frame is sinf/cosf's slow path for angles past 1e5 radians
# (RoPE in the launch): ptxas's spill count is checked, not the SASS's local loads.
# spill_free SOURCE PATTERN COUNT WHAT: COUNT kernels of kernels/SOURCE whose mangled
# names match PATTERN, and none spills
spill_free() {
	nvcc -O3 -std=c++17 $gencode -I"$top/kernels" --resource-usage -c "$top/kernels/$1" -o "usage_$1.o" \
		>"usage_$1.txt" 2>&1
	usage=$(grep -A1 -E "Function properties for .*$2" "usage_$1.txt")
	kernels=$(echo "$usage" | grep -c 'bytes spill stores')
	clean=$(echo "$usage" | grep -c ' 0 bytes spill stores, 0 bytes spill loads')
	[ "$kernels" -eq "$3" ] && [ "$clean" -eq "$3" ]
	check $? "the $3 $4 spill no registers ($clean of $kernels clean)"
}
# the split-KV attention kernels of the GQA groups Llama 3 has (4: 1B, 3B, 8B; 8: 70B), both
# head_dims, every cache type
spill_free attention_kernels.cu 'attention_split_kernel.*Li(64|128)ELi(4|8)E' 12 \
	"split-KV attention kernels of groups 4 and 8"
cuobjdump --dump-sass kernels/attention_prefill.o >attention_prefill.sass 2>&1
[ "$(grep -c 'Function : .*attention_prefill_kernel' attention_prefill.sass)" -eq 6 ] &&
	[ "$(awk '/Function : /{f=$0} /HMMA/{print f}' attention_prefill.sass | sort -u | wc -l)" -eq 6 ]
check $? "each of the 6 prefill attention kernels (head_dim x cache dtype) runs on the tensor cores (HMMA in its SASS)"
# (q's RoPE runs in the prefill launch too)
spill_free attention_prefill.cu 'attention_prefill_kernel' 6 "prefill attention kernels"

# the decode step's fused launches against the pairs they replace, bit for bit, and their
# time (step_fusion_checks.cu)
check_program step_fusion_checks 45 src/model/libmodel.a
# the persistent decode segment against the launches it replaces, bit for bit, and its
# time (decode_segment_checks.cu)
check_program decode_segment_checks 38 src/model/libmodel.a
# the GPU's draw against the CPU sampler: kept sets, distributions, repeats, its time
# (sampler_check.cu)
check_program sampler_check 101 src/chat/libchat.a src/model/libmodel.a src/base/libbase.a
# speculative decoding's verify pass: several tokens through the decode kernels, each
# token's bits as alone, and its time (verify_checks.cu)
check_program verify_checks 65

# sampled answers drawn on the GPU: --seed repeats them, with and without the CUDA
# graph; another seed gives another answer (the tiny models recite their answers, so
# the same at temperature 1 whatever the seed, on the CPU too: temperature 4 flattens them)
sampled() { # MODEL SEED [ENV...]: a sampled answer on the default backend
	model=$1 seed=$2
	shift 2
	echo "Tell me a story about a cat." | env "$@" ./src/llmchat -m "$model" --temp 4 --top-p 0.98 --top-k 200 \
		--repeat-penalty 1.1 --seed "$seed" --max-tokens 40 2>/dev/null
}
for name in tiny-bf16 tiny-fp8 tiny-int8; do
	model="$top/tests/data/models/$name"
	first=$(sampled "$model" 7); second=$(sampled "$model" 7); eager=$(sampled "$model" 7 LLMCHAT_CUDA_GRAPH=0)
	[ -n "$first" ] && [ "$first" = "$second" ] && [ "$first" = "$eager" ]
	check $? "$name: a sampled answer drawn on the GPU repeats with its --seed, with and without the graph"
	others=0
	for seed in 8 9 10; do [ "$(sampled "$model" $seed)" != "$first" ] && others=$((others + 1)); done
	[ "$others" -ge 2 ]
	check $? "$name: other seeds give other answers ($others of 3)"
done

# the decode step as a CUDA graph against the same step run eagerly, at real shapes
gcc -O2 -std=c11 -D_GNU_SOURCE $part_includes -I/usr/local/cuda/include -fopenmp \
	"$top/tests/gpu/graph_check.c" $part_libs $(pkg-config --libs jansson libutf8proc ncursesw) \
	-L/usr/local/cuda/lib64 -lcublasLt -lnccl -lcudart -lstdc++ -lm -o graph_check >graph_check.build 2>&1
check $? "graph_check builds"
for config in llama-3.1-8b-fp8 llama-3.1-8b-int8; do
	# with the persistent layer segments too (LLMCHAT_DECODE_SEGMENTS=1), with the norms and
	# dynamic quantizations in the last blocks in the graph (LLMCHAT_LAST_BLOCK=1), and with the
	# GEMVs on the tensor cores (LLMCHAT_GEMV_PRODUCTS=tensor)
	for variant in "" segments last-block tensor; do
		./graph_check "$top/tests/data/configs/$config" $variant >"graph-$config$variant.out" 2>&1
		cat "graph-$config$variant.out"
		count_results "graph-$config$variant.out"
	done
done

# a long prompt stops soon after Ctrl-C (its cancel flag), at real shapes: within 0.5 s
gcc -O2 -std=c11 -D_GNU_SOURCE $part_includes -I/usr/local/cuda/include -fopenmp \
	"$top/tests/gpu/prefill_cancel.c" $part_libs $(pkg-config --libs jansson libutf8proc ncursesw) \
	-L/usr/local/cuda/lib64 -lcublasLt -lnccl -lcudart -lstdc++ -lm -o prefill_cancel >prefill_cancel.build 2>&1
check $? "prefill_cancel builds"
for run in "llama-3.1-8b-fp8 8192" "llama-3.1-8b-bf16 4096"; do
	set -- $run
	./prefill_cancel "$top/tests/data/configs/$1" "$2" >"cancel-$1.out" 2>&1
	cat "cancel-$1.out"
	count_results "cancel-$1.out"
done

for name in tiny-bf16 tiny-fp8 tiny-int8 tiny-bf16-tied; do
	# FP8 prefill runs on Hopper's FP8 tensor cores (cuBLASLt), whose accumulation is
	# narrower than float32 (~2e-4 relative, linear_checks): 0.05 nats for FP8 there.
	tolerance=0.001
	[ "$name" = tiny-fp8 ] && tolerance=0.05
	GOLDEN_TOLERANCE=$tolerance LLMCHAT_TEST_BACKEND=cuda ./tests/engine/test_golden "$top/tests/data/models/$name" "$top/tests/data/golden/$name.json" \
		>"golden-$name.tap" 2>&1
	grep -E '^(not )?ok' "golden-$name.tap" | grep -v '^ok' | head -n 5
	n_ok=$(grep -c '^ok' "golden-$name.tap"); n_bad=$(grep -c '^not ok' "golden-$name.tap")
	grep 'log-probs' "golden-$name.tap" | sed 's/^/  /'
	passed=$((passed + n_ok)); failed=$((failed + n_bad))
	[ "$n_ok" -gt 0 ] || check 1 "$name: golden checks ran on the GPU"
done

for name in tiny-bf16 tiny-fp8 tiny-int8; do
	model="$top/tests/data/models/$name"
	echo "Who are you?" | ./src/llmchat -m "$model" --temp 0 >"gpu-$name.txt" 2>"gpu-$name.err"
	check $? "$name: pipe mode on the default backend exits 0"
	grep -q 'on CUDA' "gpu-$name.err"
	check $? "$name: the default backend is the GPU ($(head -n 1 "gpu-$name.err"))"
	echo "Who are you?" | ./src/llmchat -m "$model" --temp 0 --cpu >"cpu-$name.txt" 2>/dev/null
	cmp -s "gpu-$name.txt" "cpu-$name.txt"
	check $? "$name: the GPU's greedy answer equals the CPU's"
	echo "Who are you?" | LLMCHAT_DECODE_SEGMENTS=1 ./src/llmchat -m "$model" --temp 0 >"segments-$name.txt" 2>/dev/null
	cmp -s "segments-$name.txt" "cpu-$name.txt"
	check $? "$name: ... and with the persistent decode segments (LLMCHAT_DECODE_SEGMENTS=1)"
	echo "Who are you?" | LLMCHAT_LAST_BLOCK=1 ./src/llmchat -m "$model" --temp 0 >"last-block-$name.txt" 2>/dev/null
	cmp -s "last-block-$name.txt" "cpu-$name.txt"
	check $? "$name: ... and with the norms and dynamic quantizations in the last blocks (LLMCHAT_LAST_BLOCK=1)"
	for products in tensor tensor-f16; do
		echo "Who are you?" | LLMCHAT_GEMV_PRODUCTS=$products ./src/llmchat -m "$model" --temp 0 >"$products-$name.txt" 2>/dev/null
		cmp -s "$products-$name.txt" "cpu-$name.txt"
		check $? "$name: ... and with the GEMVs on the tensor cores (LLMCHAT_GEMV_PRODUCTS=$products)"
	done
	want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chat_answer_text"])' "$top/tests/data/golden/$name.json")
	[ "$(cat "gpu-$name.txt")" = "$want" ]
	check $? "$name: ... and the transformers reference's"
	gpu_ppl=$(./src/llmchat -m "$model" --perplexity "$top/tests/data/golden/perplexity.txt" 2>/dev/null | tail -n 1)
	cpu_ppl=$(./src/llmchat -m "$model" --cpu --perplexity "$top/tests/data/golden/perplexity.txt" 2>/dev/null | tail -n 1)
	python3 -c 'import sys; a, b = (float(v.split()[-1]) for v in sys.argv[1:3]); sys.exit(0 if abs(a - b) <= 1e-3 * b else 1)' \
		"${gpu_ppl:-x nan}" "${cpu_ppl:-x nan}"
	check $? "$name: --perplexity on the GPU ($gpu_ppl) equals the CPU's ($cpu_ppl) within 1e-3 relative"
done

# speculative decoding (issue 21): a verify pass gives each token the one-token step's bits
# (verify_checks above, kernel by kernel), so --lookup and --draft-model answer byte for
# byte as plain greedy decoding on the GPU too (tests/cli/speculation.sh with this build),
# and at real shapes every row of a pass of 2 to 9 tokens is the step's, and each row's
# argmax on the device (engine_forward_argmax) the step's choice (bench/verify_rows.c)
LLMCHAT=$PWD/src/llmchat SRCDIR=$top BUILDDIR=$PWD timeout 180 sh "$top/tests/cli/speculation.sh" >speculation-gpu.tap 2>&1
grep '^not ok' speculation-gpu.tap | head -n 5
count_results speculation-gpu.tap
grep -q '^ok' speculation-gpu.tap || check 1 "tests/cli/speculation.sh ran on the GPU"
# the peer benchmark's table reads what --bench prints on this GPU (bench/peers/peers_table.py;
# its fixtures are one run's files, so a change of --bench's rows shows here)
timeout 120 ./src/llmchat --bench --dummy-weights "$top/tests/data/configs/llama-3.1-8b-fp8" --ctx 2200 >bench-fp8.txt 2>&1
python3 -B -c 'import sys; sys.path.insert(0, sys.argv[1]); import peers_table
r = peers_table.parse_llmchat(open(sys.argv[2]).read())
sys.exit(not (r["decode"].get(128) and r["decode_sampled"].get(128) and r["prefill"].get(2048)))' "$top/bench/peers" bench-fp8.txt
check $? "bench/peers/peers_table.py reads this GPU's llmchat --bench rows (decode 128 greedy and sampled, prefill 2048)"
gcc -O2 -std=c11 -D_GNU_SOURCE $part_includes -I/usr/local/cuda/include -fopenmp \
	"$top/bench/verify_rows.c" $part_libs $(pkg-config --libs jansson libutf8proc ncursesw) \
	-L/usr/local/cuda/lib64 -lcublasLt -lnccl -lcudart -lstdc++ -lm -o verify_rows >verify_rows.build 2>&1
check $? "verify_rows builds"
for run in llama-3.1-8b-fp8 llama-3.1-8b-int8 llama-3.1-8b-bf16 "llama-3.1-8b-fp8 tensor-f16" \
	"llama-3.1-8b-fp8 tensor" "llama-3.1-8b-int8 tensor-f16"; do
	set -- $run
	label=$(echo "$run" | tr ' ' -)
	timeout 120 ./verify_rows "$top/tests/data/configs/$1" ${2:-} >"verify-$label.out" 2>&1
	sed 's/^/  /' "verify-$label.out"
	passes=$(grep -c 'tokens a pass' "verify-$label.out")
	exact=$(grep -cE ': ([0-9]+) of \1 rows the same bits.*engine_forward_argmax differs in 0$' "verify-$label.out")
	[ "$passes" -eq 8 ] && [ "$exact" -eq 8 ]
	check $? "$run: passes of 2 to 9 tokens give every row the one-token step's bits and argmax ($exact of $passes)"
done

# tensor parallel on this one GPU (tests/engine/tp_compare.c): N ranks against one rank, with
# the one-GPU communicator (every rank on GPU 0, a reduce kernel between host
# barriers), and NCCL with one rank.  The peer-to-peer kernel needs its ranks' kernels
# to wait for one another on the GPU; ranks sharing one GPU can deadlock there behind
# an implicitly synchronising call (seen once), so it is checked on several GPUs only
# (tests/gpu/multi_gpu.sh).  Every run has a time limit.  Tolerances: BF16 and INT8 differ by summation order (and
# INT8 by per-rank dynamic scales); FP8 prefill runs on the FP8 tensor cores, whose
# narrow accumulation depends on the split of the columns (as for the goldens).
python3 "$top/tests/tp/make_tp_models.py" tp-models
check $? "tp8 models written"
gcc -O2 -std=c11 -D_GNU_SOURCE $part_includes \
	-I/usr/local/cuda/include -fopenmp "$top/tests/engine/tp_compare.c" $part_libs \
	$(pkg-config --libs jansson libutf8proc ncursesw) -L/usr/local/cuda/lib64 -lcublasLt -lnccl -lcudart -lstdc++ -lm \
	-o tp_compare >tp_compare.build 2>&1
check $? "tp_compare builds"
# tolerances on tp_compare's arbitrary text (the golden recital below is held tighter):
# INT8's per-rank dynamic scales move log-probs up to 0.29 nats there on the CPU too; the
# FP8 tensor cores' narrow accumulation alone puts one GPU 0.52 nats from the CPU there.
tp_tolerance() { case $1 in *fp8*) echo 1.0 ;; *int8*) echo 0.5 ;; *) echo 0.001 ;; esac; }
tp_run() { # LABEL COMM MODEL N...
	label=$1 comm=$2 model=$3
	shift 3
	LLMCHAT_TEST_BACKEND=cuda LLMCHAT_TEST_COMM=$comm timeout 120 ./tp_compare -r "$(echo "$@" | tr " " ,)" "$model" "$(tp_tolerance "$model")" \
		>"tp-$label.tap" 2>&1
	grep -E '^(not ok|#)' "tp-$label.tap" | head -n 8
	grep -E 'log-probs' "tp-$label.tap" | sed 's/^/  /'
	count_results "tp-$label.tap"
	grep -q '^ok' "tp-$label.tap" || check 1 "$label: tp_compare ran"
}
for name in bf16 fp8 int8; do
	tp_run "one-gpu-tiny-$name" one-gpu "$top/tests/data/models/tiny-$name" 2 4
	tp_run "one-gpu-tp8-$name" one-gpu "tp-models/tp8-$name" 2 4 8
	tp_run "nccl-tiny-$name" nccl "$top/tests/data/models/tiny-$name" 1
done
# the same split on the recital of the golden files (tests/engine/test_engine_ranks.c): the
# text the models know, where 8-bit rounding moves log-probs least
LLMCHAT_TEST_BACKEND=cuda LLMCHAT_TEST_COMM=one-gpu timeout 300 ./tests/engine/test_engine_ranks \
	"$top/tests/data/models/tiny-bf16" "$top/tests/data/golden/tiny-bf16.json" 1e-3 \
	"$top/tests/data/models/tiny-fp8" "$top/tests/data/golden/tiny-fp8.json" 0.05 \
	"$top/tests/data/models/tiny-int8" "$top/tests/data/golden/tiny-int8.json" 2e-2 >engine-ranks.tap 2>&1
grep -E '^not ok|log-probs' engine-ranks.tap | sed 's/^/  one-gpu: /'
count_results engine-ranks.tap
grep -q '^ok' engine-ranks.tap || check 1 "test_engine_ranks ran on the GPU"
model="$top/tests/data/models/tiny-bf16"
echo "Who are you?" | timeout 60 ./src/llmchat -m "$model" --temp 0 --gpus 1 --comm nccl >nccl-1.txt 2>nccl-1.err
check $? "llmchat --gpus 1 --comm nccl runs end to end ($(head -n 1 nccl-1.err))"
cmp -s nccl-1.txt gpu-tiny-bf16.txt
check $? "... and answers as without NCCL"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
