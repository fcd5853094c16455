#!/bin/sh
# tests/cli/nan_logits.sh - weights that hold NaN give an error, never an answer: the
# tiny model with NaN in its final norm (every logit NaN) or in one element of
# lm_head (one logit NaN) fails in one line naming NaN logits and a position, with
# status 1 and nothing on stdout, whether the next token is picked greedily,
# sampled, after --raw, or scored by --perplexity.  Fixtures: poison_tensor.py.
. "$SRCDIR/tests/lib.sh"
MODEL=$SRCDIR/tests/data/models/tiny-bf16
if [ ! -d "$MODEL" ]; then echo "1..0 # SKIP no test model at $MODEL"; exit 0; fi
if ! command -v python3 >/dev/null 2>&1; then echo "1..0 # SKIP no python3 for poison_tensor.py"; exit 0; fi
poison="$SRCDIR/tests/fixtures/poison_tensor.py"
python3 "$poison" "$MODEL" "$TMP/norm" model.norm.weight || { echo "Bail out! poison_tensor.py failed"; exit 1; }
# row 40 of lm_head is the logit of "I", the first token of the model's answer
python3 "$poison" "$MODEL" "$TMP/row" lm_head.weight $((40 * 128 + 5)) || { echo "Bail out! poison_tensor.py failed"; exit 1; }

want='^llmchat: the model produced NaN logits at position [0-9]+ \(the weights or config values are broken\)$'
printf 'The quick brown fox jumps over the lazy dog. %.0s' 1 2 3 4 >"$TMP/text"
for case in "norm --temp 0" "norm --temp 1 --seed 3" "norm --raw --temp 0" "row --temp 0" "row --temp 1 --seed 3"; do
	set -- $case
	folder=$1; shift
	echo "Who are you?" | "$LLMCHAT" -m "$TMP/$folder" --max-tokens 8 "$@" >"$TMP/out" 2>"$TMP/err"; status=$?
	is "$status" 1 "NaN in $folder, $*: exit 1"
	like "$(grep -v ' layers) on ' "$TMP/err")" "$want" "NaN in $folder, $*: one line says NaN logits and where"
	is "$(wc -c <"$TMP/out" | tr -d ' ')" 0 "NaN in $folder, $*: no answer on stdout"
done
"$LLMCHAT" -m "$TMP/norm" --perplexity "$TMP/text" --ctx 16 >"$TMP/out" 2>"$TMP/err"; status=$?
is "$status" 1 "NaN in norm, --perplexity: exit 1"
like "$(grep 'NaN' "$TMP/err")" "$want" "NaN in norm, --perplexity: says NaN logits"
is "$(cat "$TMP/out")" "" "NaN in norm, --perplexity: no 'perplexity: nan'"

# the unpoisoned model still answers (the check refuses only what is broken)
echo "Who are you?" | "$LLMCHAT" -m "$MODEL" --temp 0 --max-tokens 4 >"$TMP/out" 2>/dev/null; status=$?
is "$status:$(cat "$TMP/out")" "0:I am the t" "the model itself answers as before"
done_testing
