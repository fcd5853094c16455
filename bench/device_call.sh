# bench/device_call.sh - the start the one-call device scripts share (sourced by bash
# from the tree's root on the device machine, after .device/setup.sh): top is the
# tree's root; $W (/tmp/w) holds every output, packed into $OUT/out.tgz at exit;
# say NOTE appends a timed line to progress.txt in $W and $OUT; left prints the seconds
# left of $DEADLINE (default 540) since the start.  Then llmchat and its check programs
# are built with CUDA in build-gpu, where the shell is left, with gencode and
# part_includes set for building a tests/gpu program.
set -u
T0=$(date +%s)
W=/tmp/w; mkdir -p $W $W/bin
say() { echo "== $* (+$(($(date +%s) - T0)) s)" | tee -a "$W/progress.txt" "$OUT/progress.txt"; }
finish() { say done; tar czf "$OUT/out.tgz" -C $W --exclude='*.o' --exclude='bin' . ; }
trap finish EXIT
left() { echo $((${DEADLINE:-540} - ($(date +%s) - T0))); }
export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
top=$PWD
say "device $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
autoreconf -fi >/dev/null 2>&1
mkdir -p build-gpu && cd build-gpu && ../configure >"$W/configure.log" 2>&1 && make -j16 >"$W/make.log" 2>&1 &&
	make -j16 check TESTS= >"$W/make-check.log" 2>&1
say "built rc=$?"
gencode=$(sed -n 's/^CUDA_GENCODE = //p' Makefile); eval "$(make -s print-build-flags)"
