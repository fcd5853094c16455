#!/bin/sh
# tests/cli/standard_io.sh - nothing is lost or changed silently between llmchat and its
# standard streams: a NUL byte in a message is refused with its offset by every mode
# that sends one; every mode reports a failed write to standard output as one line
# and status 1; a reader that went away ends every mode quietly with status 141;
# a token longer than any fixed buffer reaches the answer whole.
. "$SRCDIR/tests/lib.sh"
MODEL=$SRCDIR/tests/data/models/tiny-bf16
if [ ! -d "$MODEL" ]; then echo "1..0 # SKIP no test model at $MODEL"; exit 0; fi
export XDG_CONFIG_HOME="$TMP/config" XDG_STATE_HOME="$TMP/state"
load_line=' layers) on '  # the load line, on the CPU or a GPU

# ---- one rule for a message: a NUL byte is refused with its offset ----------
want="llmchat: standard input: the message holds a NUL byte (at offset 5)"
for flags in "--temp 0 --max-tokens 3" "--raw --temp 0 --max-tokens 3" "--print-prompt" "--print-prompt --raw"; do
	# shellcheck disable=SC2086
	printf 'Hello\0world' | "$LLMCHAT" -m "$MODEL" $flags >"$TMP/out" 2>"$TMP/err"; status=$?
	is "$status" 1 "$flags: a NUL byte in the message exits 1"
	is "$(cat "$TMP/err")" "$want" "$flags: ... with the offset, before the model loads"
	is "$(wc -c <"$TMP/out" | tr -d ' ')" 0 "$flags: ... and nothing on stdout (no answer to half a message)"
done
printf 'a\0b' | "$LLMCHAT" -m "$MODEL" --tokenize >"$TMP/ids" 2>&1
printf 'a\0b' >"$TMP/bytes"
"$LLMCHAT" -m "$MODEL" --detokenize <"$TMP/ids" >"$TMP/back" 2>&1
cmp -s "$TMP/bytes" "$TMP/back"; ok $? "--tokenize still takes any bytes, NUL included (they round-trip)"

# ---- a failed write is one line and status 1, in every mode ------------------
printf 'The quick brown fox jumps over the lazy dog. %.0s' 1 2 3 4 >"$TMP/text"
echo "Who are you?" >"$TMP/question"
echo "40 1097" >"$TMP/ids"
# each line: a name, then the flags (the model and stdin are the same for all)
cat >"$TMP/modes" <<EOF
help --help
version --version
list-presets --list-presets
list-themes --list-themes
print-prompt -m $MODEL --print-prompt
tokenize -m $MODEL --tokenize
detokenize -m $MODEL --detokenize
pipe -m $MODEL --temp 0 --max-tokens 4
raw -m $MODEL --raw --temp 0 --max-tokens 4
perplexity -m $MODEL --perplexity $TMP/text --ctx 16
EOF
stdin_for() { case $1 in detokenize) echo "$TMP/ids" ;; *) echo "$TMP/question" ;; esac; }
if [ -w /dev/full ]; then
	while read -r name flags; do
		# shellcheck disable=SC2086
		"$LLMCHAT" $flags <"$(stdin_for "$name")" >/dev/full 2>"$TMP/full.err"; status=$?
		is "$status" 1 "$name to a full disk (/dev/full): exit 1"
		is "$(grep -v "$load_line" "$TMP/full.err" | grep -v ': window [0-9]*/\|tokens in [0-9]* window')" \
			"llmchat: writing standard output: No space left on device" "$name to a full disk: ... in one line"
	done <"$TMP/modes"
else
	echo "# /dev/full is not writable: the full-disk checks are skipped"
fi

# ---- a reader that went away: quiet, status 141 -------------------------------
# closed_pipe STDIN FLAGS...: runs llmchat with stdout a pipe whose reader is gone
# (SIGPIPE as a shell leaves it); prints "exited N" or "killed by N", stderr in $TMP/pipe.err
closed_pipe() {
	python3 - "$@" <<'PY'
import os, signal, subprocess, sys
r, w = os.pipe()
os.close(r)
with open(sys.argv[1], "rb") as stdin, open(os.environ["TMP"] + "/pipe.err", "wb") as err:
    p = subprocess.run([os.environ["LLMCHAT"]] + sys.argv[2:], stdin=stdin, stdout=w, stderr=err)
print("killed by %s" % signal.Signals(-p.returncode).name if p.returncode < 0 else "exited %d" % p.returncode)
PY
}
if command -v python3 >/dev/null 2>&1; then
	export TMP
	while read -r name flags; do
		# shellcheck disable=SC2086
		is "$(closed_pipe "$(stdin_for "$name")" $flags)" "exited 141" "$name to a closed pipe: status 141, as SIGPIPE would give"
		is "$(grep -v "$load_line" "$TMP/pipe.err" | grep -v ': window [0-9]*/\|tokens in [0-9]* window')" "" \
			"$name to a closed pipe: ... and not a word"
	done <"$TMP/modes"
else
	echo "# no python3: the closed-pipe checks are skipped"
fi

# ---- a token longer than any fixed buffer streams whole ----------------------
# The model folder again, with the token " am" (of "I am the tiny test model")
# spelled with 600 more bytes: the answer must carry all of them.
long=$(printf '%600s' '' | tr ' ' '~')
mkdir "$TMP/long"
for f in "$MODEL"/*; do ln -s "$f" "$TMP/long/"; done
rm "$TMP/long/tokenizer.json"
python3 - "$MODEL/tokenizer.json" "$TMP/long/tokenizer.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1], encoding="utf-8"))
vocab = t["model"]["vocab"]
vocab["\u0120am" + "~" * 600] = vocab.pop("\u0120am")
json.dump(t, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
PY
echo "Who are you?" | "$LLMCHAT" -m "$MODEL" --temp 0 --max-tokens 5 >"$TMP/short" 2>/dev/null
echo "Who are you?" | "$LLMCHAT" -m "$TMP/long" --temp 0 --max-tokens 5 >"$TMP/long.out" 2>"$TMP/long.err"; status=$?
is "$status" 0 "a token of 603 bytes: pipe mode exits 0"
like "$(cat "$TMP/short")" "^I am " "(the unchanged model answers 'I am ...')"
is "$(cat "$TMP/long.out")" "$(sed "s/ am/ am$long/" "$TMP/short")" "a token of 603 bytes reaches the answer whole"
"$LLMCHAT" -m "$TMP/long" --detokenize <"$TMP/ids" >"$TMP/detok"
is "$(cat "$TMP/detok")" "I am$long" "--detokenize prints the same bytes"
done_testing
