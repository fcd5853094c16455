#!/bin/sh
# tests/gpu/attention_prefill.sh - the prefill attention's checks and timings alone,
# with tile-size variants, so that one short device call settles them.
#
#   tests/gpu/attention_prefill.sh build [BUILD_DIR]   here: compiles attention_prefill_checks and
#       its variants against BUILD_DIR's kernels and model libraries (a CUDA build) into BUILD_DIR/attention/
#   bash .device/setup.sh && tests/gpu/attention_prefill.sh run [BUILD_DIR]
#       on the device machine: runs the prefill attention's checks and timings of each, writes
#       their logs and the default kernels' SASS to $OUT (if set) and prints a summary.
# A variant is PREFILL_WARPS x PREFILL_MIN_BLOCKS (see kernels/attention_prefill.cu), then
# p for PREFILL_PREFETCH (the next K/V tile loaded while the current one is used), then
# kN for PREFILL_KEYS=N (the positions of a K/V tile; 64 without it), then after a dash
# q for PREFILL_Q_REGISTERS (Q's A tiles kept in registers), s for PREFILL_STAGES=2
# (two K/V tiles in shared memory, one barrier a tile) and r for PREFILL_ROW_TILES=2 (two
# 16-row mma tiles a warp); Q and S turn the first two off.  The default kernel is
# 8x1p-qs.  VARIANTS=... replaces the list.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
mode=${1:-run}
build=${2:-build-gpu}
cd "$top/$build" || exit 1
variants=${VARIANTS:-"8x1p-QS 8x1p-Q 8x1p-S 4x2p"}
# the -D flags of variant $1
variant_flags() {
	v=$1 keys= more=
	case $v in *-*)
		case ${v#*-} in *q*) more="$more -DPREFILL_Q_REGISTERS=1" ;; esac
		case ${v#*-} in *Q*) more="$more -DPREFILL_Q_REGISTERS=0" ;; esac
		case ${v#*-} in *s*) more="$more -DPREFILL_STAGES=2" ;; esac
		case ${v#*-} in *S*) more="$more -DPREFILL_STAGES=1" ;; esac
		case ${v#*-} in *r*) more="$more -DPREFILL_ROW_TILES=2 -DPREFILL_Q_REGISTERS=0" ;; esac
		v=${v%%-*} ;;
	esac
	case $v in *k*) keys=" -DPREFILL_KEYS=${v#*k}" v=${v%k*} ;; esac
	prefetch=0
	case $v in *p) prefetch=1 v=${v%p} ;; esac
	echo "-DPREFILL_WARPS=${v%x*} -DPREFILL_MIN_BLOCKS=${v#*x} -DPREFILL_PREFETCH=$prefetch$keys$more"
}
if [ "$mode" = build ]; then
	mkdir -p attention || exit 1
	gencode=$(sed -n 's/^CUDA_GENCODE = //p' Makefile) # configure's --with-cuda-arch, as nvcc flags
	flags="-O3 -std=c++17 $gencode -I$top/src/model -I$top/kernels -I."
	libs="kernels/libkernels.a src/model/libmodel.a"
	cp kernels/attention_prefill.o attention/ || exit 1
	nvcc $flags "$top/tests/gpu/attention_prefill_checks.cu" $libs -lcublasLt -lcudart -o attention/attention_prefill_checks &
	for v in $variants; do # side by side
		nvcc $flags $(variant_flags $v) -Xptxas -v \
			"$top/tests/gpu/attention_prefill_checks.cu" "$top/kernels/attention_prefill.cu" $libs -lcublasLt -lcudart \
			-o attention/attention_prefill_checks_$v 2>attention/ptxas_$v.txt &
	done
	wait
	[ -x attention/attention_prefill_checks ] || exit 1
	for v in $variants; do
		[ -x attention/attention_prefill_checks_$v ] || { cat attention/ptxas_$v.txt; exit 1; }
	done
	exit 0
fi
out=${OUT:-attention}
export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# a binary built elsewhere that does not load here is rebuilt from the sources
if [ ! -x attention/attention_prefill_checks ] || ldd attention/attention_prefill_checks* 2>&1 | grep -q 'not found'; then
	echo "the carried binaries do not run here: building them from the sources"
	arch=sm_90a
	flags="-O3 -std=c++17 -gencode=arch=compute_90a,code=$arch -I$top/src/model -I$top/kernels"
	sources="$top/tests/gpu/attention_prefill_checks.cu $top/kernels/llm_kernels.cu $top/kernels/gemv_kernels.cu $top/kernels/gemv_bf16_rows.cu $top/kernels/attention_kernels.cu $top/kernels/gemm_cublaslt.cu $top/src/model/numerics.c"
	mkdir -p attention
	nvcc $flags -c "$top/kernels/attention_prefill.cu" -o attention/attention_prefill.o &
	nvcc $flags $sources "$top/kernels/attention_prefill.cu" -lcublasLt -o attention/attention_prefill_checks &
	for v in $variants; do
		nvcc $flags $(variant_flags $v) $sources "$top/kernels/attention_prefill.cu" \
			-lcublasLt -o attention/attention_prefill_checks_$v &
	done
	wait
fi
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw --format=csv,noheader
cuobjdump --dump-sass attention/attention_prefill.o >"$out/attention_prefill.sass" 2>&1
echo "SASS: $(grep -c 'Function : ' "$out/attention_prefill.sass") kernels, $(grep -c HMMA "$out/attention_prefill.sass") HMMA," \
	"$(grep -cE 'LDL|STL' "$out/attention_prefill.sass") LDL/STL; HMMA per kernel:"
awk '/Function : /{f=$3} /HMMA/{n[f]++} END{for (k in n) print "  " n[k], k}' "$out/attention_prefill.sass"
for v in default $variants; do
	bin=attention/attention_prefill_checks_$v
	[ "$v" = default ] && bin=attention/attention_prefill_checks
	./$bin >"$out/attention_$v.txt" 2>&1
	echo "== variant $v (exit $?): $(grep -c '^ok' "$out/attention_$v.txt") ok"
	grep -v '^ok' "$out/attention_$v.txt"
done
