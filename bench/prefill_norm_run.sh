#!/bin/bash
# bench/prefill_norm_run.sh - one device call for the prefill norm's many-rows form
# (kernels/llm_kernels.cu, MANY_ROWS: on from 64 rows since the call of 2026-12-07 that
# this script made, BENCHMARKS.md):
#
#   bash .device/setup.sh && DEADLINE=540 bash bench/prefill_norm_run.sh
#
# In order: llmchat built with CUDA; activation_checks as built (every check, then the
# timing of a prefill step's norms and SwiGLU) and built with each variant of the
# norm's launch (-DMANY_ROWS=1000000: 1024 threads a row everywhere, as before;
# -DMANY_ROWS_THREADS=512: every check, then the timing); the default timing again;
# `llmchat --bench` of the 8B FP8 and INT8 shapes, as built and with -DMANY_ROWS=1000000;
# the 70B FP8 shape; the tiny models' goldens and greedy answers through CUDA; the
# whole GPU suite (tests/gpu/run.sh) when what is left of $DEADLINE (seconds) holds it;
# the 8B FP8 prefill of 2048 tokens profiled.  Writes progress.txt and out.tgz into
# $OUT.  The engine with a variant: touch kernels/llm_kernels.cu, then make -C build-gpu
# NVCCFLAGS="$(sed -n 's/^NVCCFLAGS = //p' build-gpu/Makefile) -DMANY_ROWS=1000000".
. "$(dirname "$0")/device_call.sh" # $W, say, left, bench, top; llmchat built, the shell in build-gpu
nvcc -O3 -std=c++17 $gencode $part_includes "$top/tests/gpu/activation_checks.cu" kernels/libkernels.a src/model/libmodel.a \
	-lcublasLt -lcudart -o $W/bin/ac >$W/ac.build 2>&1 &
i=0
for v in "-DMANY_ROWS=1000000" "-DMANY_ROWS_THREADS=512"; do
	nvcc -O3 -std=c++17 $gencode $part_includes $v "$top/tests/gpu/activation_checks.cu" "$top/kernels/llm_kernels.cu" \
		kernels/libkernels.a src/model/libmodel.a -lcublasLt -lcudart -o $W/bin/ac$i >$W/ac$i.build 2>&1 &
	i=$((i + 1))
done
wait
cd "$top"
timeout 120 $W/bin/ac >$W/activation_checks.txt 2>&1
say "activation_checks: $(tail -n 1 $W/activation_checks.txt); $(grep -E '^not ok' $W/activation_checks.txt | head -5 | tr '\n' ';') $(grep 'prefill activations' $W/activation_checks.txt)"
i=0
for v in "-DMANY_ROWS=1000000" "-DMANY_ROWS_THREADS=512"; do
	timeout 120 $W/bin/ac$i >$W/ac$i.txt 2>&1
	say "variant $v: $(tail -n 1 $W/ac$i.txt); $(grep -E '^not ok' $W/ac$i.txt | head -3 | tr '\n' ';') $(grep 'prefill activations' $W/ac$i.txt) $([ -x $W/bin/ac$i ] || tail -3 $W/ac$i.build)"
	i=$((i + 1))
done
timeout 60 $W/bin/ac speed >$W/ac-speed2.txt 2>&1
say "default again: $(grep 'prefill activations' $W/ac-speed2.txt)"
bench 8b-fp8 build-gpu/src/llmchat llama-3.1-8b-fp8 4400
bench 8b-int8 build-gpu/src/llmchat llama-3.1-8b-int8 4400
if [ "$(left)" -gt 200 ]; then # the engine with 1024 threads a row everywhere, then back to the default
	(cd build-gpu && touch "$top/kernels/llm_kernels.cu" &&
		make -j16 NVCCFLAGS="$(sed -n 's/^NVCCFLAGS = //p' Makefile) -DMANY_ROWS=1000000" >"$W/make-many.log" 2>&1)
	say "built with -DMANY_ROWS=1000000 rc=$?"
	bench 8b-fp8-rows1024 build-gpu/src/llmchat llama-3.1-8b-fp8 4400
	bench 8b-int8-rows1024 build-gpu/src/llmchat llama-3.1-8b-int8 4400
	(cd build-gpu && touch "$top/kernels/llm_kernels.cu" && make -j16 >"$W/make-back.log" 2>&1)
	say "built back rc=$?"
fi
[ "$(left)" -gt 330 ] && bench 70b-fp8 build-gpu/src/llmchat llama-3.1-70b-fp8 1200
goldens
gpu_suite
prefill_profile
