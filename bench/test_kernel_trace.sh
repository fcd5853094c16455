#!/bin/bash
# bench/test_kernel_trace.sh - checks of the kernel tracer's pieces that need no GPU:
# kernel_timeline.py on two decode steps of a real trace (testdata/trace-fp8-h100.csv:
# bench/kernel_trace.sh's CSV of the 8B FP8 shape on an H100, CUPTI's mangled names), and,
# where CUPTI's header is installed, that kernel_trace.c builds as an injection library
# exporting InitializeInjection.
#   bash bench/test_kernel_trace.sh      (TAP, its plan last; prints "N passed, N failed" last;
#   make check runs it)
set -u
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

python3 "$here/kernel_timeline.py" "$here/testdata/trace-fp8-h100.csv" >"$tmp/t.txt" 2>"$tmp/t.err"
check "kernel_timeline.py exits 0 on a real trace" "[ $? -eq 0 ]"
check "two steps of 261 kernels, span 3654.5 us" \
	"grep -q '^2 steps, 261 kernels each; span median 3654.5 us (min 3652.2)' $tmp/t.txt"
check "mangled names shortened: 65 rmsnorm_quantize_kernel a step, 32 gemv_swiglu_kernel" \
	"grep -Eq '^rmsnorm_quantize_kernel +65.0 ' $tmp/t.txt && grep -Eq '^gemv_swiglu_kernel +32.0 ' $tmp/t.txt"
check "the adds of every kernel sum to the span (3654.5 us, to 0.5 us)" \
	"awk '/ us .*%\$/ { for (i = 1; i <= NF; i++) if (\$i == \"us\" && ++n % 2 == 0) s += \$(i - 1) } END { exit !(s > 3650 && s < 3659) }' $tmp/t.txt"
check "a layer of 8 launches after the SwiGLU: down, norm, q/k/v, split, combine, o_proj, norm, SwiGLU" \
	"[ \"\$(awk '/^ +[0-9]+ [a-z]/ { printf \"%s \", \$2 }' $tmp/t.txt)\" = 'gemv_split_kernel rmsnorm_quantize_kernel gemv_split_kernel attention_split_kernel attention_combine_kernel gemv_split_kernel rmsnorm_quantize_kernel gemv_swiglu_kernel ' ]"
check "the attention split adds 10.50 us a layer" "grep -Eq '^   3 attention_split_kernel +12.62 us +10.50 us' $tmp/t.txt"
printf 'start_ns,end_ns,graph,blocks,name\n1,2,0,1,"_Z6kernelv"\n' >"$tmp/none.csv"
python3 "$here/kernel_timeline.py" "$tmp/none.csv" >/dev/null 2>"$tmp/none.err"
check "a trace without a step is an error naming the cause" \
	"[ $? -ne 0 ] && grep -q 'no step (no argmax_final_kernel)' $tmp/none.err"
cuda=${CUDA_HOME:-/usr/local/cuda}
if [ -f "$cuda/include/cupti.h" ]; then
	${CC:-cc} -std=c11 -Wall -Wextra -Werror -shared -fPIC -O2 -I"$cuda/include" "$here/kernel_trace.c" \
		-L"$cuda/lib64" -L"$cuda/lib" -lcupti -o "$tmp/libtrace.so" 2>"$tmp/cc.err"
	check "kernel_trace.c builds with -Wall -Wextra -Werror ($(head -c 200 $tmp/cc.err))" "[ $? -eq 0 ]"
	check "the library exports InitializeInjection" "nm -D $tmp/libtrace.so | grep -q ' T InitializeInjection\$'"
else
	echo "# $cuda/include/cupti.h not found: kernel_trace.c not built"
fi
echo "1..$((pass + fail))"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
