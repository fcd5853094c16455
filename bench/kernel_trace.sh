#!/bin/sh
# bench/kernel_trace.sh - a decode step's kernels as the GPU ran them, overlaps included
# (device machine; nsys is not there, so CUPTI through bench/kernel_trace.c).
#
#   bench/kernel_trace.sh BUILD_DIR CONFIG TRACE_CSV [ENV=VALUE...]
#
# Builds the tracer library, runs `llmchat --bench --dummy-weights CONFIG --ctx 4224` with
# it injected (the window: the first timed run of greedy steps at 128 of context, which
# --bench marks with cudaProfilerStart / Stop when LLMCHAT_BENCH_PROFILE=decode), writes
# every kernel of the window to TRACE_CSV and prints bench/kernel_timeline.py's account
# of it after the bench's decode row.  Unlike bench/profile_decode.sh (Nsight Compute,
# each kernel alone), the kernels run as in the graph, so the gaps and overlaps are the
# step's own; the tracer's records cost a little time of their own (the row printed
# is from the traced run).
set -u
build=${1:?usage: kernel_trace.sh BUILD_DIR CONFIG TRACE_CSV [ENV=VALUE...]}
config=${2:?usage: kernel_trace.sh BUILD_DIR CONFIG TRACE_CSV [ENV=VALUE...]}
trace=${3:?usage: kernel_trace.sh BUILD_DIR CONFIG TRACE_CSV [ENV=VALUE...]}
shift 3
here=$(dirname "$0")
cuda=${CUDA_HOME:-/usr/local/cuda}
lib=${TMPDIR:-/tmp}/libkernel_trace.$$.so
cc -std=c11 -shared -fPIC -O2 -I"$cuda/include" "$here/kernel_trace.c" -L"$cuda/lib64" -L"$cuda/lib" \
	-Wl,-rpath,"$cuda/lib64" -lcupti -o "$lib" || { echo "kernel_trace.sh: the tracer did not build" >&2; exit 1; }
log=${TMPDIR:-/tmp}/kernel_trace.$$.log
env "$@" LLMCHAT_BENCH_PROFILE=decode CUDA_INJECTION64_PATH="$lib" KERNEL_TRACE_OUT="$trace" \
	"$build/src/llmchat" --bench --dummy-weights "$config" --ctx 4224 >"$log" 2>&1
status=$?
grep -E 'decode 128, greedy|kernel_trace' "$log"
[ $status -eq 0 ] || { tail -n 5 "$log"; rm -f "$lib" "$log"; exit $status; }
rm -f "$lib" "$log"
python3 "$here/kernel_timeline.py" "$trace"
