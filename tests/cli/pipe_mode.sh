#!/bin/sh
# tests/cli/pipe_mode.sh - pipe mode and --perplexity end to end on the tiny model
# folders (tests/data/models/tiny-*): stdout holds the answer only, a closed pipe
# ends quietly (status 141), errors are one line, greedy runs repeat, perplexity's last line.
. "$SRCDIR/tests/lib.sh"

out=$(printf '' | "$LLMCHAT" -m /nonexistent 2>"$TMP/err"); status=$?
is "$status" 1 "empty stdin exits 1"
is "$(cat "$TMP/err")" "llmchat: empty message on stdin" "empty stdin says so in one line"
printf ' \n\t\n' | "$LLMCHAT" -m /nonexistent 2>"$TMP/err"
is "$(cat "$TMP/err")" "llmchat: empty message on stdin" "whitespace alone is an empty message"

for name in tiny-bf16 tiny-fp8 tiny-int8; do
	model="$SRCDIR/tests/data/models/$name"
	[ -d "$model" ] || { echo "# $name: no fixture, skipped"; continue; }

	echo "Who are you?" | "$LLMCHAT" -m "$model" --temp 0 --max-tokens 12 >"$TMP/a" 2>"$TMP/a.err"; status=$?
	is "$status" 0 "$name: pipe mode exits 0"
	is "$(tail -c 1 "$TMP/a" | od -An -c | tr -d ' ')" '\n' "$name: the answer ends with a newline"
	like "$(cat "$TMP/a.err")" "llmchat: .*$name.* on (CPU|CUDA)" "$name: the load line goes to stderr"
	echo "Who are you?" | "$LLMCHAT" -m "$model" --temp 0 --max-tokens 12 >"$TMP/b" 2>/dev/null
	ok "$(cmp -s "$TMP/a" "$TMP/b"; echo $?)" "$name: greedy answers repeat exactly"
	echo "Who are you?" | "$LLMCHAT" -m "$model" --seed 7 --temp 1 --max-tokens 12 >"$TMP/c" 2>/dev/null
	echo "Who are you?" | "$LLMCHAT" -m "$model" --seed 7 --temp 1 --max-tokens 12 >"$TMP/d" 2>/dev/null
	ok "$(cmp -s "$TMP/c" "$TMP/d"; echo $?)" "$name: a seed makes sampling repeat"

	{ echo "Tell me a long story." | "$LLMCHAT" -m "$model" --temp 0 --max-tokens 400 2>"$TMP/pipe.err"; echo $? >"$TMP/pipe.status"; } | head -c 1 >/dev/null
	is "$(cat "$TMP/pipe.status")" 141 "$name: a reader closing the pipe ends llmchat quietly with status 141 (as SIGPIPE would)"
	is "$(cat "$TMP/pipe.err" | grep -Ev '^llmchat: .* on (CPU|CUDA)' | grep -c .)" 0 "$name: ... and nothing but the load line on stderr"

	echo "Hello there, this is a prompt that is longer than eight tokens." |
		"$LLMCHAT" -m "$model" --ctx 8 >/dev/null 2>"$TMP/ctx.err"; status=$?
	is "$status" 1 "$name: a prompt longer than the context exits 1"
	like "$(grep -v ' on CPU' "$TMP/ctx.err")" '^llmchat: prompt is [0-9]+ tokens but the context holds 8; use --ctx$' \
		"$name: ... with one line saying so"

	echo "The capital of France is" | "$LLMCHAT" -m "$model" --raw --temp 0 --max-tokens 5 >"$TMP/raw" 2>/dev/null; status=$?
	is "$status" 0 "$name: --raw continues the text"

	printf 'The quick brown fox jumps over the lazy dog. %.0s' 1 2 3 4 5 6 7 8 >"$TMP/text"
	"$LLMCHAT" -m "$model" --perplexity "$TMP/text" --ctx 32 >"$TMP/ppl" 2>"$TMP/ppl.err"; status=$?
	is "$status" 0 "$name: --perplexity exits 0"
	like "$(tail -n 1 "$TMP/ppl")" '^perplexity: [0-9]+\.[0-9]{4}$' "$name: the last stdout line is 'perplexity: X' with 4 decimals"
	like "$(cat "$TMP/ppl.err")" 'window [0-9]+/[0-9]+: ' "$name: progress per window on stderr"
done
done_testing
