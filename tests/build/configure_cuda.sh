#!/bin/sh
# configure_cuda.sh - configure's CUDA options, run from a scratch folder.
#
# --with-cuda-arch takes a list (commas or spaces; NN, NNa, sm_NN, compute_NN) and turns it
# into nvcc's -gencode flags; a malformed item is refused by name.  --with-cuda=DIR uses the
# toolkit in DIR or fails naming what is missing there: never the nvcc found in PATH.  With
# a real toolkit at hand (/usr/local/cuda or nvcc in PATH), an architecture its nvcc does not
# know is refused too.  The runs share one config cache (only the first pays for the
# compiler checks); the one that finds real CUDA headers comes last.
. "$SRCDIR/tests/lib.sh"

if [ -f "$SRCDIR/config.status" ]; then
	echo "1..0 # SKIP the source tree is configured in place; configure cannot run from another folder"
	exit 0
fi
mkdir -p "$TMP/build" "$TMP/path" "$TMP/empty" "$TMP/half/bin"
# a configure run in the scratch build folder: its stdout and stderr in $TMP/out, its status returned
run_configure() {
	(cd "$TMP/build" && "$SRCDIR/configure" --cache-file="$TMP/config.cache" "$@" >"$TMP/out" 2>&1)
}
gencode() { sed -n 's/^CUDA_GENCODE = *//p' "$TMP/build/Makefile"; }

run_configure --without-cuda --with-cuda-arch="90, sm_100 compute_90,90a  sm_100f"
ok $? "configure accepts a list of architectures"
is "$(gencode)" "-gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_100,code=sm_100 -gencode=arch=compute_90,code=compute_90 -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_100f,code=sm_100f" \
	"each item becomes one -gencode: NN and sm_NN machine code, compute_NN PTX"
run_configure --without-cuda
ok $? "configure without --with-cuda-arch"
is "$(gencode)" "-gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_90,code=compute_90" \
	"the default is sm_90a machine code and compute_90 PTX (what README.md promises)"
grep -q -- "$(gencode)" "$TMP/build/Makefile" && grep -q '^NVCCFLAGS = .*-gencode=arch=compute_90a,code=sm_90a' "$TMP/build/Makefile"
ok $? "NVCCFLAGS carries the -gencode flags"

run_configure --without-cuda --with-cuda-arch="90a sm_9x"
status=$?
[ $status -ne 0 ] && grep -q "with-cuda-arch: 'sm_9x' is not" "$TMP/out"
ok $? "a malformed item fails and is named (status $status)"
run_configure --without-cuda --with-cuda-arch="90a sm_86"
status=$?
[ $status -ne 0 ] && grep -q "with-cuda-arch: 'sm_86' is older than the kernels support" "$TMP/out"
ok $? "an architecture older than Hopper fails and is named (status $status)"
run_configure --without-cuda --with-cuda-arch=" , "
status=$?
[ $status -ne 0 ] && grep -q "with-cuda-arch: the list is empty" "$TMP/out"
ok $? "an empty list fails (status $status)"

# a named toolkit folder is used or configure fails, even with an nvcc in PATH
printf '#!/bin/sh\necho "fake nvcc" >&2\nexit 0\n' >"$TMP/path/nvcc"
chmod +x "$TMP/path/nvcc"
cp "$TMP/path/nvcc" "$TMP/half/bin/nvcc"
PATH="$TMP/path:$PATH" run_configure --with-cuda="$TMP/empty"
status=$?
[ $status -ne 0 ] && grep -q -- "--with-cuda=$TMP/empty: .*missing: $TMP/empty/bin/nvcc" "$TMP/out"
ok $? "--with-cuda=DIR without DIR/bin/nvcc fails naming it, though PATH has an nvcc (status $status)"
grep -q "$TMP/path/nvcc" "$TMP/out" "$TMP/build/config.log" 2>/dev/null
[ $? -ne 0 ]
ok $? "... and the nvcc in PATH is never looked at"
run_configure --with-cuda="$TMP/half"
status=$?
[ $status -ne 0 ] && grep -q "missing: $TMP/half/include/cuda_runtime.h $TMP/half/include/cublasLt.h" "$TMP/out"
ok $? "--with-cuda=DIR with an nvcc but no headers fails naming the headers (status $status)"
run_configure --with-cuda="$TMP/nowhere"
status=$?
[ $status -ne 0 ] && grep -q -- "--with-cuda=$TMP/nowhere: no such folder" "$TMP/out"
ok $? "--with-cuda=DIR naming no folder fails (status $status)"

# with a real toolkit: an architecture its nvcc does not know
nvcc=$(PATH="/usr/local/cuda/bin:$PATH" command -v nvcc)
if [ -n "$nvcc" ] && "$nvcc" --list-gpu-code >/dev/null 2>&1; then
	cuda=$(dirname "$(dirname "$nvcc")")
	run_configure --with-cuda="$cuda" --with-cuda-arch="90a sm_99"
	status=$?
	[ $status -ne 0 ] && grep -q "with-cuda-arch: .*nvcc does not know sm_99" "$TMP/out"
	ok $? "an architecture nvcc does not know fails naming it (status $status)"
	[ $status -ne 0 ] || sed 's/^/# /' "$TMP/out" | tail -n 5
else
	tap_n=$((tap_n + 1))
	echo "ok $tap_n # SKIP no CUDA toolkit here to ask which architectures nvcc knows"
fi
done_testing
