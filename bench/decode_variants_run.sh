#!/bin/bash
# bench/decode_variants_run.sh - one device call that times the decode step's -D variants
# (kernels/attention_kernels.cu's DECODE_KV_EARLY, DECODE_MIN_CHUNK, DECODE_UNROLL;
# kernels/gemv_kernels.cu's GEMV_SPLIT_UNROLL, ...) in the engine, each beside the default
# build in the same call:
#
#   bash .device/setup.sh && VARIANTS="-DDECODE_KV_EARLY=1;-DDECODE_MIN_CHUNK=32" bash bench/decode_variants_run.sh
#
# In order, each step skipped when what is left of $DEADLINE (seconds, default 540) would
# not hold it: llmchat built with CUDA and `llmchat --bench` of the 8B FP8 shape ($CONFIG)
# at --ctx 4400; then for each variant in $VARIANTS (flag sets, ";" between them) the kernels
# rebuilt with those flags, attention_checks and step_fusion_checks built and run with them
# (their last lines: each variant must pass all), the same bench, and the step traced
# (bench/kernel_trace.sh); the default build last again, for the drift.  Writes
# progress.txt and out.tgz into $OUT.
: "${VARIANTS:=-DDECODE_KV_EARLY=1;-DDECODE_MIN_CHUNK=32;-DDECODE_UNROLL=2}"
: "${CONFIG:=llama-3.1-8b-fp8}"
. "$(dirname "$0")/device_call.sh" # $W, say, left, bench, trace, top; llmchat built, the shell in build-gpu
base_flags=$(sed -n 's/^NVCCFLAGS = //p' Makefile)
# kernels/ rebuilt with extra NVCC flags (none: the default), and the check programs with them
rebuild() {
	(touch "$top"/kernels/*.cu && make -j16 NVCCFLAGS="$base_flags $1" >"$W/make-variant.log" 2>&1) || return 1
	for t in attention_checks step_fusion_checks; do
		nvcc -O3 -std=c++17 $gencode $1 $part_includes "$top/tests/gpu/$t.cu" kernels/libkernels.a \
			src/model/libmodel.a -lcublasLt -lcudart -o "$W/bin/$t" >"$W/$t.build" 2>&1 || return 1
	done
}
cd "$top"
bench default $top/build-gpu/src/llmchat $CONFIG 4400
IFS=';' read -r -a sets <<<"$VARIANTS"
for flags in "${sets[@]}"; do
	[ "$(left)" -gt 120 ] || { say "variant $flags skipped"; continue; }
	name=$(echo "$flags" | tr -d ' ' | tr -c 'A-Za-z0-9=_\n' '_' | sed 's/^_*//')
	(cd build-gpu && rebuild "$flags")
	say "variant $name built rc=$?"
	for t in attention_checks step_fusion_checks; do
		timeout 120 $W/bin/$t >$W/$t-$name.txt 2>&1
		say "$t ($name): $(tail -n 1 $W/$t-$name.txt); $(grep '^not ok' $W/$t-$name.txt | head -3 | tr '\n' ';')"
	done
	bench "$name" $top/build-gpu/src/llmchat $CONFIG 4400
	trace "$name" $CONFIG
done
if [ "$(left)" -gt 80 ]; then
	(cd build-gpu && rebuild "")
	bench default-again $top/build-gpu/src/llmchat $CONFIG 4400
fi
