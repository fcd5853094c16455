#!/bin/bash
# bench/prefill_attention_run.sh - one short device call for the prefill changes of issue
# 16 (the attention on mma.sync with its output quantized for o_proj, the norm and
# SwiGLU + quantize kernels that keep a row in registers, no float normed rows where only
# the codes are read) and the verify pass's staged BF16 lm_head:
#
#   git show REV:kernels/attention_prefill.cu >.device/attention_prefill_before.cu  # here
#   bash .device/setup.sh && bash bench/prefill_attention_run.sh                   # there
#
# In order, each step skipped when what is left of $DEADLINE (seconds, default 560) would
# not hold it: llmchat built with CUDA; the check programs of the changed kernels
# (activation_checks, attention_prefill_checks, verify_checks), the kernel before
# (if given) timed beside the new one; the goldens and greedy answers of the tiny models
# through the CUDA backend; `llmchat --bench` of the 8B FP8 and INT8 shapes (with
# BENCH_TENSOR=1 FP8 on tensor-core products too; with BENCH_70B=1 the 70B FP8 shape,
# which needs an H200's memory at --ctx 4400 to spare); the whole GPU suite (tests/gpu/run.sh); the 8B FP8
# prefill of 2048 tokens profiled.  ATTENTION_VARIANTS=1 (default) also builds and times
# tests/gpu/attention_prefill.sh's variants of the prefill attention after its checks.  Writes progress.txt and out.tgz (every output) into $OUT.
: "${DEADLINE:=560}"
. "$(dirname "$0")/device_call.sh" # $W, say, left, bench, top; llmchat built, the shell in build-gpu
for t in activation_checks attention_prefill_checks verify_checks; do
	nvcc -O3 -std=c++17 $gencode $part_includes "$top/tests/gpu/$t.cu" kernels/libkernels.a src/model/libmodel.a \
		-lcublasLt -lcudart -o $W/bin/$t >$W/$t.build 2>&1 &
done
before=$top/.device/attention_prefill_before.cu
[ -f "$before" ] && nvcc -O3 -std=c++17 $gencode $part_includes "$top/tests/gpu/attention_prefill_checks.cu" "$before" \
	kernels/libkernels.a src/model/libmodel.a -lcublasLt -lcudart -o $W/bin/attention_before >$W/before.build 2>&1 &
wait
cd "$top"
say "checks built: $(ls $W/bin | tr '\n' ' ')"
run_checks() { # NAME ARGS...: a check program, its last line and its failures
	name=$1; shift
	[ "$(left)" -gt 60 ] || { say "$name skipped"; return; }
	timeout 90 $W/bin/$name "$@" >$W/$name.txt 2>&1
	say "$name: $(tail -n 1 $W/$name.txt); $(grep '^not ok' $W/$name.txt | head -5 | tr '\n' ';')"
}
run_checks activation_checks
run_checks attention_prefill_checks
grep -h '8B attention' $W/attention_prefill_checks.txt | tee -a $W/progress.txt $OUT/progress.txt
run_checks verify_checks
grep -h 'lm_head' $W/verify_checks.txt | tee -a $W/progress.txt $OUT/progress.txt
if [ -x $W/bin/attention_before ] && [ "$(left)" -gt 60 ]; then
	timeout 40 $W/bin/attention_before speed >$W/attention_before.txt 2>&1
	say "before: $(grep '8B attention' $W/attention_before.txt | tr '\n' ';')"
fi
if [ "${ATTENTION_VARIANTS:-1}" = 1 ] && [ "$(left)" -gt 200 ]; then # tile and prefetch variants, checked and timed
	tests/gpu/attention_prefill.sh build build-gpu >$W/attention-variants-build.txt 2>&1 &&
		OUT=$W timeout 120 tests/gpu/attention_prefill.sh run build-gpu >$W/attention-variants.txt 2>&1
	say "attention variants: $(grep -E '^== variant|8B attention' $W/attention-variants.txt | tr -s ' ' | tr '\n' ';')"
fi
[ "$(left)" -gt 60 ] && goldens
[ "$(left)" -gt 60 ] && bench 8b-fp8 build-gpu/src/llmchat llama-3.1-8b-fp8 4400
[ "$(left)" -gt 60 ] && bench 8b-int8 build-gpu/src/llmchat llama-3.1-8b-int8 4400
[ "${BENCH_TENSOR:-0}" = 1 ] && [ "$(left)" -gt 60 ] && bench 8b-fp8-tensor build-gpu/src/llmchat llama-3.1-8b-fp8 4400 LLMCHAT_GEMV_PRODUCTS=tensor
[ "${BENCH_70B:-0}" = 1 ] && [ "$(left)" -gt 150 ] && bench 70b-fp8 build-gpu/src/llmchat llama-3.1-70b-fp8 4400
gpu_suite
prefill_profile
