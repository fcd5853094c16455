#!/bin/sh
# tests/engine/tp_models.sh - 8-way splits on the CPU: the random 8-head models of
# tests/tp/make_tp_models.py (8 attention heads, 4 KV heads: at 8 ranks two ranks
# share each KV head) at 2, 4 and 8 ranks against one rank (tests/engine/tp_compare.c),
# with the tolerances of tests/engine/engine_ranks.sh for BF16 and FP8 (only the order of
# the sums changes: measured max 5.6e-6 nats); INT8 quantizes each rank's slice of
# the row-parallel layers' input with its own dynamic scale (as vLLM does), and these
# random weights with their widely spread logits feel that far more than the trained
# tiny model (5.9e-3 there): measured 0.20 / 0.22 / 0.29 nats at 2 / 4 / 8 ranks, so
# 0.5 nats here, where a wrongly split scale moves log-probs by whole nats.  Also
# engine_decode_greedy against the logits' argmax.
. "$SRCDIR/tests/lib.sh"
models="$BUILDDIR/tests/tp-models"
python3 "$SRCDIR/tests/tp/make_tp_models.py" "$models" || { echo "Bail out! cannot write the tp8 models"; exit 1; }
exec "$BUILDDIR/tests/engine/tp_compare" -r 2,4,8 "$models/tp8-bf16" 1e-5 "$models/tp8-fp8" 1e-5 "$models/tp8-int8" 0.5
