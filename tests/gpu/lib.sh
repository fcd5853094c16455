# tests/gpu/lib.sh - what the GPU scripts share; sourced by run.sh and multi_gpu.sh
# once they are in the top folder, with $build set.
#   check STATUS NAME   counts STATUS (0: passed) and prints "ok - NAME" or "not ok - NAME"
#   build_with_cuda     configures (once) and builds llmchat and the tests in $build,
#                       and stays there; its status is the build's
#   count_results FILE  adds FILE's "ok" and "not ok" lines to passed and failed
passed=0 failed=0
check() { # STATUS NAME
	if [ "$1" -eq 0 ]; then passed=$((passed + 1)); echo "ok - $2"; else failed=$((failed + 1)); echo "not ok - $2"; fi
}
count_results() { # FILE
	passed=$((passed + $(grep -c '^ok' "$1"))); failed=$((failed + $(grep -c '^not ok' "$1")))
}
build_with_cuda() {
	{ [ -x configure ] || autoreconf -fi >/dev/null 2>&1; } && mkdir -p "$build" && cd "$build" &&
		{ [ -f Makefile ] || ../configure >configure.log 2>&1; } && make -j"$(nproc)" >make.log 2>&1 &&
		make -j"$(nproc)" check TESTS= >make-check.log 2>&1
}
