#!/bin/sh
# tests/cli/speculation.sh - --lookup, --draft-model and --draft as a user runs them,
# on the tiny trained models: greedy answers are byte for byte the ones without
# speculation, for 1 to 8 proposals a step and the adaptive number, on a message
# whose answer quotes it (so that lookup proposes and proposals are kept) and with
# another tiny model as the draft (tiny-bf16-tied was trained apart: it proposes
# wrong tokens too; tiny-draft, a smaller model trained shorter on the same text, is
# often but not always right: train_tiny_draft.py); pipe mode says on stderr how many were kept; a seeded sampled
# answer repeats; a draft with another tokenizer is refused; the flags' misuse is a
# usage error.
. "$SRCDIR/tests/lib.sh"
story=$(head -c 700 "$SRCDIR/tests/data/golden/perplexity.txt")
message="Recite the story about Ada, the lighthouse keeper. $story"
for name in tiny-bf16 tiny-fp8 tiny-int8 tiny-bf16-tied; do
	model="$SRCDIR/tests/data/models/$name"
	want=$(printf '%s\n' "$message" | "$LLMCHAT" -m "$model" --temp 0 --max-tokens 120 2>"$TMP/err")
	same=0
	for draft in adaptive 1 2 3 4 5 6 7 8; do
		flags="--lookup"
		[ "$draft" = adaptive ] || flags="--lookup --draft $draft"
		# shellcheck disable=SC2086 # two words on purpose
		got=$(printf '%s\n' "$message" | "$LLMCHAT" -m "$model" --temp 0 --max-tokens 120 $flags 2>"$TMP/err-$draft")
		[ "$got" = "$want" ] || { same=1; printf '# %s %s differs:\n#   got:  %s\n#   want: %s\n' "$name" "$flags" "$got" "$want"; }
	done
	ok "$same" "$name: --lookup answers as plain greedy decoding, byte for byte, with --draft 1 to 8 and adaptive"
done
# with a draft model: each model with another as its draft
for pair in tiny-bf16:tiny-bf16-tied tiny-fp8:tiny-int8 tiny-int8:tiny-bf16-tied tiny-bf16-tied:tiny-bf16 \
	tiny-bf16:tiny-draft tiny-fp8:tiny-draft; do
	model="$SRCDIR/tests/data/models/${pair%%:*}" draft="$SRCDIR/tests/data/models/${pair#*:}"
	same=0
	for question in "Who are you?" "Recite the story about Ada."; do
		want=$(printf '%s\n' "$question" | "$LLMCHAT" -m "$model" --temp 0 --max-tokens 80 2>/dev/null)
		for draft_tokens in adaptive 1 3 8; do
			flags="--draft-model $draft"
			[ "$draft_tokens" = adaptive ] || flags="$flags --draft $draft_tokens"
			# shellcheck disable=SC2086 # words on purpose
			got=$(printf '%s\n' "$question" | "$LLMCHAT" -m "$model" --temp 0 --max-tokens 80 $flags 2>"$TMP/draft-err")
			[ "$got" = "$want" ] || { same=1; printf '# %s %s differs:\n#   got:  %s\n#   want: %s\n' "$pair" "$flags" "$got" "$want"; }
		done
	done
	ok "$same" "${pair%%:*} with ${pair#*:} as its draft answers as plain greedy decoding, with --draft 1, 3, 8 and adaptive"
done
like "$(grep 'steps' "$TMP/draft-err")" '^llmchat: draft tiny-draft: [0-9]+ steps proposed [0-9]+ tokens, [0-9]+ accepted' \
	"pipe mode names the draft with its numbers on stderr"
# tiny-draft's acceptance is real: some of its proposals kept, some not (77% measured)
echo "Tell me a story about a cat." | "$LLMCHAT" -m "$SRCDIR/tests/data/models/tiny-bf16" --temp 0 --max-tokens 80 \
	--draft-model "$SRCDIR/tests/data/models/tiny-draft" >/dev/null 2>"$TMP/draft-err"
kept=$(sed -n 's/^llmchat: draft tiny-draft: [0-9]* steps proposed \([0-9]*\) tokens, \([0-9]*\) accepted.*/\1 \2/p' "$TMP/draft-err")
set -- $kept
[ "${1:-0}" -gt 0 ] && [ "${2:-0}" -gt 0 ] && [ "$2" -lt "$1" ]
ok $? "tiny-draft proposes for tiny-bf16 and some, not all, are kept (${2:-?} of ${1:-?})"
# a draft whose tokenizer gives one id another text
mkdir -p "$TMP/other-tokenizer"
for file in config.json generation_config.json model.safetensors tokenizer_config.json; do
	ln -s "$SRCDIR/tests/data/models/tiny-bf16/$file" "$TMP/other-tokenizer/$file"
done
python3 -c 'import json, sys
t = json.load(open(sys.argv[1]))
vocab = t["model"]["vocab"]
a, b = sorted(vocab, key=vocab.get)[300:302]
vocab[a], vocab[b] = vocab[b], vocab[a]
json.dump(t, open(sys.argv[2], "w"))' "$SRCDIR/tests/data/models/tiny-bf16/tokenizer.json" "$TMP/other-tokenizer/tokenizer.json"
# refused after the "loaded" lines of the model (and the draft): exit status 1, the error the
# last line and the only other, no answer
expect_refused() {
	echo "Who are you?" | "$LLMCHAT" -m "$SRCDIR/tests/data/models/tiny-bf16" --draft-model "$2" >"$TMP/out" 2>"$TMP/err"
	status=$?
	[ "$status" -eq 1 ] && [ ! -s "$TMP/out" ] && tail -n 1 "$TMP/err" | grep -Eq "^llmchat: $3" &&
		[ "$(grep -Evc '^llmchat: [^ ]+ \(BF16, 4 layers\) on ' "$TMP/err")" -eq 1 ]
	ok $? "$1: refused in one line (status $status): $(tail -n 1 "$TMP/err")"
}
expect_refused "a draft with another tokenizer" "$TMP/other-tokenizer" \
	"--draft-model .*other-tokenizer.*token 300 is not the same text as tiny-bf16's"
expect_refused "a draft folder that is missing" "$TMP/no-such-folder" "--draft-model .*no-such-folder"

stats=$(grep 'lookup:' "$TMP/err-adaptive")
like "$stats" '^llmchat: lookup: [0-9]+ steps proposed [0-9]+ tokens, [0-9]+ accepted \([0-9]+%\), [0-9.]+ tokens a step$' \
	"pipe mode prints the lookup's numbers on stderr: $stats"
model="$SRCDIR/tests/data/models/tiny-bf16"
printf '%s\n' "$message" | "$LLMCHAT" -m "$model" --temp 0 --max-tokens 120 --lookup >/dev/null 2>"$TMP/err"
kept=$(sed -n 's/.* \([0-9]*\) accepted.*/\1/p' "$TMP/err")
[ "${kept:-0}" -gt 20 ]
ok $? "tiny-bf16 quoting its message keeps more than 20 proposed tokens (${kept:-none})"

a=$(printf '%s\n' "$message" | "$LLMCHAT" -m "$model" --temp 0.8 --top-p 0.95 --seed 7 --max-tokens 60 --lookup 2>/dev/null)
b=$(printf '%s\n' "$message" | "$LLMCHAT" -m "$model" --temp 0.8 --top-p 0.95 --seed 7 --max-tokens 60 --lookup 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ]
ok $? "sampled with --lookup: the same seed gives the same answer"

expect_usage "--draft 9" "--draft: expected an integer from 1 to 8, got '9'$" "$LLMCHAT" -m "$model" --lookup --draft 9
expect_usage "--draft without --lookup" "--draft .*give --lookup" "$LLMCHAT" -m "$model" --draft 3
expect_usage "--lookup --raw" "--lookup .*--raw" "$LLMCHAT" -m "$model" --lookup --raw
expect_usage "--draft-model --raw" "--draft-model .*--raw" "$LLMCHAT" -m "$model" --draft-model "$model" --raw
expect_usage "--lookup --draft-model" "--lookup and --draft-model .*give one" "$LLMCHAT" -m "$model" --lookup --draft-model "$model"
expect_usage "--lookup --perplexity" "--lookup speeds up chat answers; --perplexity decodes none$" "$LLMCHAT" -m "$model" --lookup --perplexity "$SRCDIR/tests/data/golden/perplexity.txt"
expect_usage "--draft-model --bench" "--draft-model speeds up chat answers; --bench decodes none$" "$LLMCHAT" --bench --dummy-weights "$SRCDIR/tests/data/configs/llama-3.2-1b-bf16" --draft-model "$model"
expect_usage "--lookup --tokenize" "--lookup speeds up chat answers; --tokenize decodes none$" "$LLMCHAT" -m "$model" --tokenize --lookup
done_testing
