#!/bin/sh
# tests/engine/engine_ranks.sh - the tiny models split across 2 and 4 CPU ranks against one
# rank (tests/engine/test_engine_ranks.c), with the tolerances measured on them:
#   BF16, FP8 static: only the order of the sums changes;
#   INT8: the row-parallel layers (o_proj, down_proj) also quantize each rank's
#   slice of their input with its own dynamic per-token scale.
# Measured (max over the 371 log-probs of the recital, 2 / 4 ranks, x86-64 gcc):
#   tiny-bf16 9.7e-10 / 7.6e-7, tiny-bf16-tied 4.3e-9 / 2.7e-6, tiny-fp8 1.9e-6 /
#   1.1e-6, tiny-int8 5.9e-3 / 5.7e-5; the greedy continuations are identical.
. "$SRCDIR/tests/lib.sh"
models="$SRCDIR/tests/data/models" golden="$SRCDIR/tests/data/golden"
exec "$BUILDDIR/tests/engine/test_engine_ranks" \
	"$models/tiny-bf16" "$golden/tiny-bf16.json" "${TOL_BF16:-1e-5}" \
	"$models/tiny-fp8" "$golden/tiny-fp8.json" "${TOL_FP8:-1e-5}" \
	"$models/tiny-int8" "$golden/tiny-int8.json" "${TOL_INT8:-2e-2}" \
	"$models/tiny-bf16-tied" "$golden/tiny-bf16-tied.json" "${TOL_BF16:-1e-5}"
