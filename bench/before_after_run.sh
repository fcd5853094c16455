#!/bin/bash
# bench/before_after_run.sh - one device call that checks a change and times it beside the
# tree before it:
#
#   git archive REV -o .device/before.tar                      # here (REV: the tree before)
#   bash .device/setup.sh && bash bench/before_after_run.sh    # there
#
# In order, each skipped when what is left of $DEADLINE (seconds, default 480) would not
# hold it: llmchat built with CUDA (and the tree before, from .device/before.tar, at the
# same time); the check programs named in $CHECKS (tests/gpu/*.cu, default the kernels
# between the products and both attentions), their last lines; the goldens and greedy
# answers of the tiny models through the CUDA backend; `llmchat --bench --dummy-weights`
# of each shape in $CONFIGS (default the 8B INT8 and FP8 shapes), the tree before and
# after in turns (with $VARIANT_ENV set, e.g. LLMCHAT_LAST_BLOCK=1, the new tree a third
# time with those variables); then on an H200 the 70B FP8 and INT8 shapes at --ctx 4400, on an
# 80 GB card the 70B FP8 shape at --ctx 1200.  With TRACE=1, before the 70B shapes, each
# 8B shape's decode step of the new tree traced as it ran (bench/kernel_trace.sh; and with
# $VARIANT_ENV).  With PEERS=1 (and bench/peers/llama.cpp
# carried), llama.cpp beside llmchat (bench/peers/run.sh) runs before the benches, its
# table in progress.txt and table.md.  Writes progress.txt and out.tgz (every output)
# into $OUT.
: "${DEADLINE:=480}"
: "${CHECKS:=activation_checks attention_prefill_checks attention_checks}"
: "${CONFIGS:=llama-3.1-8b-int8 llama-3.1-8b-fp8}"
before_tar=$PWD/.device/before.tar
if [ -f "$before_tar" ]; then
	mkdir -p /tmp/before && tar xf "$before_tar" -C /tmp/before &&
		(cd /tmp/before && autoreconf -fi >/dev/null 2>&1 && mkdir -p b && cd b && ../configure >/dev/null 2>&1 &&
			make -j6 >/tmp/before.log 2>&1; echo $? >/tmp/before.rc) &
fi
. "$(dirname "$0")/device_call.sh" # $W, say, left, goldens, bench, top; llmchat built, the shell in build-gpu
for t in $CHECKS; do
	nvcc -O3 -std=c++17 $gencode $part_includes "$top/tests/gpu/$t.cu" kernels/libkernels.a src/model/libmodel.a \
		-lcublasLt -lcudart -o $W/bin/$t >$W/$t.build 2>&1 &
done
wait
cd "$top"
say "checks built: $(ls $W/bin | tr '\n' ' '); the tree before built: rc=$(cat /tmp/before.rc 2>/dev/null || echo none)"
for t in $CHECKS; do
	[ "$(left)" -gt 60 ] || { say "$t skipped"; continue; }
	timeout 90 $W/bin/$t >$W/$t.txt 2>&1
	say "$t: $(tail -n 1 $W/$t.txt); $(grep '^not ok' $W/$t.txt | head -5 | tr '\n' ';')"
done
[ "$(left)" -gt 60 ] && goldens
if [ -n "${PEERS:-}" ] && [ "$(left)" -gt 200 ]; then
	mkdir -p $W/peers
	OUT=$W/peers timeout $(($(left) - 60)) bash bench/peers/run.sh build-gpu >$W/peers.log 2>&1
	cp $W/peers/table.md "$OUT/" 2>/dev/null
	say "peers: $(grep -E '^\||x \(target' $W/peers/table.md | tr -s ' ' | tr '\n' ';')"
fi
new=build-gpu/src/llmchat old=/tmp/before/b/src/llmchat
for config in $CONFIGS; do
	bench "${config#llama-3.1-}-before" $old $config 4400
	bench "${config#llama-3.1-}" $new $config 4400
	[ -n "${VARIANT_ENV:-}" ] && bench "${config#llama-3.1-}-variant" $new $config 4400 $VARIANT_ENV
done
if [ -n "${TRACE:-}" ]; then
	for config in $CONFIGS; do
		trace "${config#llama-3.1-}" $config
		[ -n "${VARIANT_ENV:-}" ] && trace "${config#llama-3.1-}-variant" $config $VARIANT_ENV
	done
fi
if nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200; then
	[ "$(left)" -gt 120 ] && bench 70b-fp8 $new llama-3.1-70b-fp8 4400
	[ "$(left)" -gt 120 ] && bench 70b-int8 $new llama-3.1-70b-int8 4400
else
	[ "$(left)" -gt 100 ] && bench 70b-fp8 $new llama-3.1-70b-fp8 1200
fi
