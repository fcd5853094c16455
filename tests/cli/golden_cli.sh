#!/bin/sh
# tests/cli/golden_cli.sh - the program as a user runs it, on the tiny trained models,
# against the transformers goldens (tests/models/train_tiny_models.py):
#   - --tokenize gives the reference tokenizer's ids for the recital (truncated vocabulary);
#   - --perplexity matches transformers' perplexity of the same text (relative 1e-4:
#     the log-probs agree to ~5e-6 nats, so exp(mean) agrees far closer than that);
#   - pipe mode, greedy, answers "Who are you?" with the reference's greedy answer.
. "$SRCDIR/tests/lib.sh"
golden_value() { python3 -c 'import json,sys; g=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(v)' "$1" "$2"; }
text="$SRCDIR/tests/data/golden/perplexity.txt"
for name in tiny-bf16 tiny-fp8 tiny-int8 tiny-bf16-tied; do
	model="$SRCDIR/tests/data/models/$name"
	golden="$SRCDIR/tests/data/golden/$name.json"
	want_ids=$(golden_value "$golden" '" ".join(map(str, g["text_ids"][1:]))')
	got_ids=$("$LLMCHAT" -m "$model" --tokenize <"$text" 2>"$TMP/err")
	is "$got_ids" "$want_ids" "$name: --tokenize of the recital equals the reference tokenizer's ids"

	want_ppl=$(golden_value "$golden" 'g["perplexity"]')
	# a float32 KV cache, as the float32 reference keeps (the default bf16 one: tests/engine/golden.sh)
	got_ppl=$("$LLMCHAT" -m "$model" --kv-cache f32 --perplexity "$text" 2>"$TMP/err" | tail -n 1 | sed -n 's/^perplexity: //p')
	python3 -c 'import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if abs(a - b) <= 1e-4 * b else 1)' \
		"${got_ppl:-nan}" "$want_ppl"
	ok $? "$name: --perplexity $got_ppl equals transformers' $want_ppl (relative 1e-4)"
done
for name in tiny-bf16 tiny-fp8 tiny-int8; do
	model="$SRCDIR/tests/data/models/$name"
	want=$(golden_value "$SRCDIR/tests/data/golden/$name.json" 'g["chat_answer_text"]')
	got=$(echo "Who are you?" | "$LLMCHAT" -m "$model" --temp 0 2>"$TMP/err")
	is "$got" "$want" "$name: pipe mode answers 'Who are you?' as the reference does"
done
done_testing
