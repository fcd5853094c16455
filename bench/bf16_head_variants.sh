#!/bin/bash
# bench/bf16_head_variants.sh - the BF16 lm_head of a verify pass (gemv_bf16_rows_kernel,
# kernels/gemv_bf16_rows.cu) built six ways, each checked and timed in one device call:
#
#   bash .device/setup.sh && bash bench/bf16_head_variants.sh
#
# v0 is the default (4 rows a warp, 2 loads a row in flight, weights through L1); v1 keeps
# the weights out of L1 (BF16_ROWS_NO_L1, so that the tokens' inputs, which every warp reads
# again, stay there); v2 and v3 take 8 rows a warp (half the input loads per weight byte),
# with and without L1 for the weights; v4 and v5 stage the tokens' inputs in shared memory
# once a block (BF16_ROWS_STAGED), a block of 16 or 8 warps on every SM.
#
# In order: llmchat built with CUDA; the variants compiled in the background (each one's
# gemv_bf16_rows.o in a copy of kernels/libkernels.a, tests/gpu/verify_checks.cu built
# against it) while the GPU suite runs on the defaults (with too little time left, only
# the argmax and decode-segment checks); each variant's verify_checks run (its bits
# checks: every token's rows the one-token kernel's; its table: the 8B and 70B heads at
# 1, 5 and 9 tokens); the fastest variant whose checks all pass made the default and
# llmchat rebuilt; `--bench` of the 8B FP8 shape with tensor-core products (its verify
# passes); the 8B FP8 prefill of 2048 tokens profiled.  $DEADLINE (seconds, default 580)
# is the call's time: a step that would not fit is skipped.  Writes progress.txt and
# out.tgz (every output) into $OUT.
set -u
T0=$(date +%s)
W=/tmp/w; mkdir -p $W
say() { echo "== $* (+$(($(date +%s) - T0)) s)" | tee -a "$W/progress.txt" "$OUT/progress.txt"; }
finish() { say done; tar czf "$OUT/out.tgz" -C $W .; }
trap finish EXIT
# what is left of the call's time ($DEADLINE seconds from the start, default 580): a step
# that would not fit is skipped, so that the outputs always come back
left() { echo $((${DEADLINE:-580} - ($(date +%s) - T0))); }
export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
top=$PWD
say "device $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
autoreconf -fi >/dev/null 2>&1
mkdir -p build-gpu && cd build-gpu && ../configure >"$W/configure.log" 2>&1 && make -j16 >"$W/make.log" 2>&1
say "built rc=$?"
nv=$(sed -n 's/^NVCCFLAGS = //p' Makefile); gencode=$(sed -n 's/^CUDA_GENCODE = //p' Makefile); eval "$(make -s print-build-flags)"
member=$(ar t kernels/libkernels.a | grep gemv_bf16_rows); say "member $member"
variants=("" "-DBF16_ROWS_NO_L1=1" "-DBF16_ROWS=8 -DBF16_ROWS_UNROLL=1 -DBF16_ROWS_NO_L1=1" "-DBF16_ROWS=8 -DBF16_ROWS_UNROLL=1" "-DBF16_ROWS_STAGED=1" "-DBF16_ROWS_STAGED=1 -DBF16_STAGED_WARPS=8")
n=${#variants[@]}
for i in $(seq 0 $((n - 1))); do
	d=$W/v$i; mkdir -p $d
	(nvcc $nv ${variants[$i]} -I"$top/kernels" -c "$top/kernels/gemv_bf16_rows.cu" -o $d/$member >$d/nvcc.log 2>&1 &&
		cp kernels/libkernels.a $d/ && (cd $d && ar r libkernels.a $member) &&
		nvcc -O3 -std=c++17 $gencode $part_includes "$top/tests/gpu/verify_checks.cu" $d/libkernels.a -lcudart -o $d/vc >$d/vc.build 2>&1) &
done
if [ "${GPU_CHECKS:-1}" = 1 ] && [ "$(left)" -gt 300 ]; then # the GPU suite with the default kernels
	(cd "$top" && timeout $(($(left) - 100)) tests/gpu/run.sh build-gpu >"$W/gpu-checks.txt" 2>&1)
	say "gpu checks (defaults): $(tail -n 1 $W/gpu-checks.txt); $(grep '^not ok' $W/gpu-checks.txt | head -5 | tr '\n' ';')"
elif [ "${GPU_CHECKS:-1}" = 1 ]; then # too little time: the checks of the kernels this change touched
	for c in "activation_checks argmax" "decode_segment_checks"; do
		set -- $c
		nvcc -O3 -std=c++17 $gencode $part_includes "$top/tests/gpu/$1.cu" kernels/libkernels.a src/model/libmodel.a \
			-lcublasLt -lcudart -o $W/$1 >$W/$1.build 2>&1 && timeout 40 $W/$@ >$W/$1.out 2>&1
		say "$c: $(tail -n 1 $W/$1.out); $(grep '^not ok' $W/$1.out | head -3 | tr '\n' ';')"
	done
fi
wait
say "variants built"
for i in $(seq 0 $((n - 1))); do
	d=$W/v$i
	[ "$(left)" -gt 40 ] && timeout 40 $d/vc >$d/vc.out 2>&1
	say "v$i [${variants[$i]}]: $(tail -n 1 $d/vc.out); $(grep 'lm_head' $d/vc.out | tr '\n' ' ')"
done
best=$(for j in $(seq 0 $((n - 1))); do t=$(grep '8B BF16 lm_head' $W/v$j/vc.out | sed -n 's/.* 9 tokens \([0-9.]*\) us.*/\1/p'); ok=$(tail -n 1 $W/v$j/vc.out | grep -c ' 0 failed'); [ "$ok" = 1 ] && [ -n "$t" ] && echo "$t $j"; done | sort -n | head -1 | cut -d' ' -f2)
say "best v$best"
cd "$top"
if [ -n "$best" ] && [ "$best" != 0 ]; then
	# the best variant's settings as the defaults, everything rebuilt with them
	for f in ${variants[$best]}; do f=${f#-D}; echo "#define ${f%%=*} ${f#*=}"; done >$W/defaults.h
	sed -i "/#include \"kernel_common.cuh\"/r $W/defaults.h" kernels/gemv_bf16_rows.cu
	(cd build-gpu && make -j16 >"$W/make-best.log" 2>&1)
	say "rebuilt with v$best rc=$?"
fi
if [ "$(left)" -gt 50 ]; then
	LLMCHAT_GEMV_PRODUCTS=tensor timeout $(($(left) - 10)) build-gpu/src/llmchat --bench --dummy-weights tests/data/configs/llama-3.1-8b-fp8 --ctx 4400 >"$W/bench-v${best:-0}.txt" 2>&1
	say "bench v${best:-0}: $(grep -E 'greedy|verify' $W/bench-v${best:-0}.txt | tr -s ' ' | tr '\n' ';')"
fi
if [ "${PREFILL_PROFILE:-1}" = 1 ] && [ "$(left)" -gt 90 ]; then # where the 8B FP8 prefill of 2048 tokens goes
	timeout $(($(left) - 10)) bench/profile_decode.sh build-gpu tests/data/configs/llama-3.1-8b-fp8 0 2000 prefill >"$W/profile-prefill.txt" 2>&1
	say "prefill profile rc=$?: $(head -n 12 $W/profile-prefill.txt | tr -s ' ' | tr '\n' ';')"
fi
