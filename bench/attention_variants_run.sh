#!/bin/bash
# bench/attention_variants_run.sh - one device call that settles the prefill attention's
# tile variants (tests/gpu/attention_prefill.sh) in the engine too:
#
#   bash .device/setup.sh && DEADLINE=400 bash bench/attention_variants_run.sh
#
# In order, each step skipped when what is left of $DEADLINE (seconds, default 540)
# would not hold it: llmchat built with CUDA; the variants (VARIANTS=..., else the
# script's list) built, checked (attention_prefill_checks: every variant must
# pass all) and timed beside the default; `llmchat --bench` of the 8B FP8 and INT8
# shapes as built; the engine rebuilt with the variant fastest at 2048 tokens (bf16
# cache) among those that passed, benched the same way, with the tiny models' goldens
# and greedy answers through CUDA; the 8B FP8 prefill of 2048 tokens profiled.
# Writes progress.txt and out.tgz into $OUT.
. "$(dirname "$0")/device_call.sh" # $W, say, left, bench, top; llmchat built, the shell in build-gpu
cd "$top"
tests/gpu/attention_prefill.sh build build-gpu >$W/variants-build.txt 2>&1
say "variants built rc=$?"
OUT=$W timeout 150 tests/gpu/attention_prefill.sh run build-gpu >$W/variants.txt 2>&1
say "variants: $(grep -E '^== variant|2048 tokens at    0' $W/variants.txt | tr -s ' ' | cut -c1-140 | tr '\n' ';')"
# the fastest variant that passed every check, by its 2048-token bf16 time
best=$(for f in $W/attention_*.txt; do
	v=${f#$W/attention_}; v=${v%.txt}
	[ "$v" = default ] && continue
	grep -q '^not ok' "$f" && continue
	grep -q ' passed, 0 failed' "$f" || continue
	ms=$(sed -n 's/.*2048 tokens at    0: prefill bf16 *\([0-9.]*\) ms.*/\1/p' "$f")
	[ -n "$ms" ] && echo "$ms $v"
done | sort -n | head -1 | cut -d' ' -f2)
default_ms=$(sed -n 's/.*2048 tokens at    0: prefill bf16 *\([0-9.]*\) ms.*/\1/p' $W/attention_default.txt)
say "fastest variant: ${best:-none} (default ${default_ms:-?} ms)"
[ "$(left)" -gt 60 ] && bench 8b-fp8 build-gpu/src/llmchat llama-3.1-8b-fp8 4400
[ "$(left)" -gt 60 ] && bench 8b-int8 build-gpu/src/llmchat llama-3.1-8b-int8 4400
if [ -n "$best" ] && [ "$(left)" -gt 120 ]; then
	flags=$(sed -n "/^variant_flags()/,/^}/p" tests/gpu/attention_prefill.sh)
	flags=$(bash -c "$flags; variant_flags $best")
	(cd build-gpu && touch "$top/kernels/attention_prefill.cu" &&
		make -j16 NVCCFLAGS="$(sed -n 's/^NVCCFLAGS = //p' Makefile) $flags" >"$W/make-best.log" 2>&1)
	say "built with $best ($flags) rc=$?"
	bench 8b-fp8-$best build-gpu/src/llmchat llama-3.1-8b-fp8 4400
	bench 8b-int8-$best build-gpu/src/llmchat llama-3.1-8b-int8 4400
	goldens "with $best"
fi
prefill_profile "$best"
