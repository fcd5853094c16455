# bench/device_call.sh - the start the one-call device scripts share (sourced by bash
# from the tree's root on the device machine, after .device/setup.sh): top is the
# tree's root; $W (/tmp/w) holds every output, packed into $OUT/out.tgz at exit;
# say NOTE appends a timed line to progress.txt in $W and $OUT; left prints the seconds
# left of $DEADLINE (default 540) since the start; goldens [LABEL] checks the tiny models
# through the CUDA backend, gpu_suite runs tests/gpu/run.sh, prefill_profile [LABEL]
# profiles the 8B FP8 prefill, bench NAME BINARY CONFIG CTX [ENV...] times a shape with
# llmchat --bench and trace NAME CONFIG [ENV...] traces build-gpu's decode step kernel by
# kernel as it ran (bench/kernel_trace.sh), each from the tree's root.  Then llmchat and its check programs
# are built with CUDA in build-gpu, where the shell is left, with gencode and
# part_includes set for building a tests/gpu program.
set -u
T0=$(date +%s)
W=/tmp/w; mkdir -p $W $W/bin
say() { echo "== $* (+$(($(date +%s) - T0)) s)" | tee -a "$W/progress.txt" "$OUT/progress.txt"; }
finish() { say done; tar czf "$OUT/out.tgz" -C $W --exclude='*.o' --exclude='bin' . ; }
trap finish EXIT
left() { echo $((${DEADLINE:-540} - ($(date +%s) - T0))); }
# the tiny models' transformers goldens and their greedy answer against the CPU's, one
# line of counts (LABEL first)
goldens() {
	local golden=0 golden_bad=0 name tolerance
	for name in tiny-bf16 tiny-fp8 tiny-int8 tiny-bf16-tied; do
		tolerance=0.001; [ "$name" = tiny-fp8 ] && tolerance=0.05
		GOLDEN_TOLERANCE=$tolerance LLMCHAT_TEST_BACKEND=cuda timeout 60 build-gpu/tests/engine/test_golden \
			"tests/data/models/$name" "tests/data/golden/$name.json" >"$W/golden-$name.tap" 2>&1
		golden=$((golden + $(grep -c '^ok' $W/golden-$name.tap)))
		golden_bad=$((golden_bad + $(grep -c '^not ok' $W/golden-$name.tap)))
		echo "Who are you?" | build-gpu/src/llmchat -m "tests/data/models/$name" --temp 0 >$W/gpu-$name.txt 2>/dev/null
		echo "Who are you?" | build-gpu/src/llmchat -m "tests/data/models/$name" --temp 0 --cpu >$W/cpu-$name.txt 2>/dev/null
		cmp -s $W/gpu-$name.txt $W/cpu-$name.txt && golden=$((golden + 1)) ||
			{ golden_bad=$((golden_bad + 1)); say "$name: GPU answer differs from CPU"; }
	done
	say "${1:+$1: }goldens and answers through CUDA: $golden ok, $golden_bad not ok"
}
# the whole GPU suite (about 290 s on an H100), when what is left holds it
gpu_suite() {
	[ "$(left)" -gt 300 ] || return 0
	timeout $(($(left) - 30)) tests/gpu/run.sh build-gpu >"$W/gpu-checks.txt" 2>&1
	say "gpu suite: $(tail -n 1 $W/gpu-checks.txt); $(grep '^not ok' $W/gpu-checks.txt | head -8 | tr '\n' ';')"
}
# the 8B FP8 prefill of 2048 tokens profiled (ncu, about 65 s), when what is left holds it
prefill_profile() {
	[ "$(left)" -gt 80 ] || return 0
	timeout $(($(left) - 8)) bench/profile_decode.sh build-gpu tests/data/configs/llama-3.1-8b-fp8 0 2000 prefill \
		>"$W/profile-prefill.txt" 2>&1
	say "prefill profile${1:+ ($1)} rc=$?: $(head -n 16 $W/profile-prefill.txt | tr -s ' ' | tr '\n' ';')"
}
# bench NAME BINARY CONFIG CTX [ENV...]: BINARY --bench --dummy-weights of tests/data/configs/CONFIG
# at --ctx CTX (with ENV set), from the tree's root, into $W/bench-NAME.txt and its main rows into
# progress.txt; skipped when BINARY is not there or less than 40 s are left
bench() {
	local name=$1 binary=$2 config=$3 ctx=$4
	shift 4
	[ -x "$binary" ] && [ "$(left)" -gt 40 ] || return 0
	env "$@" timeout $(($(left) - 10)) "$binary" --bench --dummy-weights "tests/data/configs/$config" --ctx "$ctx" \
		>"$W/bench-$name.txt" 2>&1
	say "bench $name: $(grep -E 'ceilings|prefill|decode 128, greedy|decode 128, temp 0.6 top-p|decode 4096, greedy|verify 1\+[48] at 128, argmax' "$W/bench-$name.txt" | tr -s ' ' | tr '\n' ';')"
}
# trace NAME CONFIG [ENV...]: bench/kernel_trace.sh of build-gpu's llmchat on tests/data/configs/CONFIG
# (with ENV set): the timeline into $W/timeline-NAME.txt and $OUT, its first lines into progress.txt,
# the trace itself xz-packed into $OUT; skipped when less than 50 s are left
trace() {
	local name=$1 config=$2
	shift 2
	[ "$(left)" -gt 50 ] || return 0
	timeout $(($(left) - 10)) bench/kernel_trace.sh build-gpu "tests/data/configs/$config" "$W/trace-$name.csv" "$@" \
		>"$W/timeline-$name.txt" 2>&1
	cp "$W/timeline-$name.txt" "$OUT/" 2>/dev/null
	[ -f "$W/trace-$name.csv" ] && xz -c "$W/trace-$name.csv" >"$OUT/trace-$name.csv.xz"
	say "trace $name: $(sed -n '1,3p' "$W/timeline-$name.txt" | tr -s ' ' | tr '\n' ';')"
}
export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
top=$PWD
say "device $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
autoreconf -fi >/dev/null 2>&1
mkdir -p build-gpu && cd build-gpu && ../configure >"$W/configure.log" 2>&1 && make -j16 >"$W/make.log" 2>&1 &&
	make -j16 check TESTS= >"$W/make-check.log" 2>&1
say "built rc=$?"
gencode=$(sed -n 's/^CUDA_GENCODE = //p' Makefile); eval "$(make -s print-build-flags)"
