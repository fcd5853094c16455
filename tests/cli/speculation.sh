#!/bin/sh
# tests/cli/speculation.sh - --lookup and --draft as a user runs them, on the tiny
# trained models: greedy answers are byte for byte the ones without speculation, for
# 1 to 8 proposals a step and the adaptive number, on a message whose answer quotes
# it (so that proposals are made and kept); pipe mode says on stderr how many were
# kept; a seeded sampled answer repeats; the flags' misuse is a usage error.
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
done_testing
