#!/bin/sh
# tests/cli/untrusted_files.sh - files that are not what they should be: a FIFO, a symlink to
# /dev/zero, a directory, a file that cannot be read, a symlink loop.  Each run ends
# within 10 s (a FIFO must never be waited on) with a message that names the file and
# the real cause.  Option values out of range are refused with the range, by flag or
# by file and line; --list-presets shows a preset's control bytes escaped; a thread
# limit is llmchat's own message, not libgomp's.
. "$SRCDIR/tests/lib.sh"
unset LLMCHAT_MODEL NO_COLOR OMP_STACKSIZE GOMP_STACKSIZE
good="$SRCDIR/tests/data/models/tiny-bf16"
export XDG_CONFIG_HOME="$TMP/config" XDG_STATE_HOME="$TMP/state"
presets="$XDG_CONFIG_HOME/llmchat/presets"
mkdir -p "$presets"
chmod 755 "$TMP"   # the other user below must reach the files
printf 'Who are you?' >"$TMP/in"

# check NAME STATUS PATTERN COMMAND...: COMMAND (stdin $TMP/in) ends within 10 s, with
# exit status STATUS ("nonzero" for any failure), and stderr matches PATTERN.
check() {
	name=$1 want=$2 pattern=$3
	shift 3
	timeout 10 "$@" <"$TMP/in" >"$TMP/out" 2>"$TMP/err"
	status=$?
	if [ "$status" -eq 124 ]; then ok 1 "$name: ends within 10 s (it timed out)"; else ok 0 "$name: ends within 10 s"; fi
	if [ "$want" = nonzero ]; then
		if [ "$status" -ne 0 ] && [ "$status" -ne 124 ]; then ok 0 "$name: fails"; else ok 1 "$name: fails (status $status)"; fi
	else
		is "$status" "$want" "$name: exit status $want"
	fi
	if [ -z "$pattern" ]; then
		is "$(cat "$TMP/err")" "" "$name: nothing on stderr"
	else
		like "$(cat "$TMP/err")" "$pattern" "$name: the message names the file and the cause"
	fi
}

model_copy() { rm -rf "$TMP/m" && cp -r "$good" "$TMP/m"; }

# ---- FIFOs: refused at once by name, never opened for a blocking read ----
model_copy; rm "$TMP/m/model.safetensors"; mkfifo "$TMP/m/model.safetensors"
check "model.safetensors a FIFO" nonzero "^llmchat: .*/m/model\.safetensors: is a FIFO" "$LLMCHAT" -m "$TMP/m"

python3 "$SRCDIR/tests/fixtures/make_model.py" "$TMP/fixtures" >/dev/null
rm -rf "$TMP/sharded" && cp -r "$TMP/fixtures/sharded-tied" "$TMP/sharded"
rm "$TMP/sharded/model-00002-of-00003.safetensors"; mkfifo "$TMP/sharded/model-00002-of-00003.safetensors"
check "a shard a FIFO" nonzero "^llmchat: .*/sharded/model-00002-of-00003\.safetensors: is a FIFO" "$LLMCHAT" -m "$TMP/sharded"

mkfifo "$TMP/tokenizer.fifo"
check "--tokenizer a FIFO" nonzero "^llmchat: .*/tokenizer\.fifo: is a FIFO" "$LLMCHAT" --tokenize --tokenizer "$TMP/tokenizer.fifo"

# a broken config file or preset is reported and left out (llmchat(1)): exit 0
mkfifo "$XDG_CONFIG_HOME/llmchat/config"
check "the config file a FIFO" 0 "^llmchat: .*/llmchat/config: is a FIFO.*\(config file ignored\)" "$LLMCHAT" --list-themes
rm "$XDG_CONFIG_HOME/llmchat/config"

mkfifo "$presets/fifo.txt"
check "a preset a FIFO" 0 "^llmchat: .*/presets/fifo\.txt: is a FIFO.*; no preset used" \
	"$LLMCHAT" -m "$good" --print-prompt --preset fifo
check "--list-presets over a FIFO in presets/" 0 "" "$LLMCHAT" --list-presets
like "$(cat "$TMP/out")" "^fifo +\(error: .*/presets/fifo\.txt: is a FIFO" "--list-presets shows the FIFO as an error"
rm "$presets/fifo.txt"

# --perplexity reads a pipe as a stream (`--perplexity <(...)`, /dev/stdin), but a FIFO
# nobody writes to is not waited on: it reads as empty
mkfifo "$TMP/text.fifo"
check "--perplexity a FIFO without a writer" nonzero "^llmchat: .*/text\.fifo: is a FIFO and nothing was written to it" \
	"$LLMCHAT" -m "$good" --perplexity "$TMP/text.fifo"
check "--perplexity a pipe (as <(...) gives)" 0 "tokens scored" \
	sh -c 'printf "The quick brown fox jumps over the lazy dog." | "$0" -m "$1" --perplexity /dev/stdin' "$LLMCHAT" "$good"
like "$(cat "$TMP/out")" "^perplexity: [0-9]+\.[0-9]{4}\$" "--perplexity of a pipe prints the perplexity"

# ---- symlinks to /dev/zero: a device is refused, never read without bound ----
model_copy; ln -sf /dev/zero "$TMP/m/model.safetensors"
check "model.safetensors -> /dev/zero" nonzero "model\.safetensors: is a character device" "$LLMCHAT" -m "$TMP/m"
ln -s /dev/zero "$XDG_CONFIG_HOME/llmchat/config"
check "the config file -> /dev/zero" 0 "/llmchat/config: is a character device" "$LLMCHAT" --list-themes
rm "$XDG_CONFIG_HOME/llmchat/config"
ln -s /dev/zero "$presets/zero.txt"
check "a preset -> /dev/zero" 0 "/presets/zero\.txt: is a character device" "$LLMCHAT" -m "$good" --print-prompt --preset zero
rm "$presets/zero.txt"
ln -s /dev/zero "$TMP/tokenizer.zero"
check "--tokenizer -> /dev/zero" nonzero "/tokenizer\.zero: is a (character )?device" "$LLMCHAT" --tokenize --tokenizer "$TMP/tokenizer.zero"
check "--perplexity /dev/zero" nonzero "^llmchat: /dev/zero: is a character device" "$LLMCHAT" -m "$good" --perplexity /dev/zero

# ---- a directory where a file should be ----
model_copy; rm "$TMP/m/model.safetensors"; mkdir "$TMP/m/model.safetensors"
check "model.safetensors a directory" nonzero "model\.safetensors: is a directory" "$LLMCHAT" -m "$TMP/m"
mkdir "$TMP/text.d"
check "--perplexity a directory" nonzero "/text\.d: is a directory" "$LLMCHAT" -m "$good" --perplexity "$TMP/text.d"
check "--tokenizer a directory" nonzero "/text\.d: is a directory" "$LLMCHAT" --tokenize --tokenizer "$TMP/text.d"

# ---- a preset that exists but cannot be read is not an "unknown preset" ----
ln -s loop.txt "$presets/loop.txt"
check "a preset that is a symlink loop" 0 "/presets/loop\.txt: Too many levels of symbolic links; no preset used" \
	"$LLMCHAT" -m "$good" --print-prompt --preset loop
rm "$presets/loop.txt"

# permissions mean nothing to root: run those as another user (setpriv), or skip
# ($as_user: the command prefix that runs as a user permissions apply to; other_user:
# whether there is one)
find_unprivileged
other_user= as_user=
[ "$unprivileged" = none ] || other_user=yes as_user=$unprivileged
if [ -n "$other_user" ]; then
	printf 'You are terse.\n' >"$presets/secret.txt"; chmod 000 "$presets/secret.txt"
	check "an unreadable preset" 0 "/presets/secret\.txt: Permission denied; no preset used" \
		$as_user "$LLMCHAT" -m "$good" --print-prompt --preset secret
	rm -f "$presets/secret.txt"
else
	echo "ok $((tap_n += 1)) - # SKIP an unreadable preset: running as root without setpriv"
fi

# ---- numbers out of range: the flag (or file and line) and the range it accepts ----
expect_usage "--top-p 0" "--top-p: expected a number in \(0, 1\], got '0'$" "$LLMCHAT" -m "$good" --top-p 0
expect_usage "--top-p 1.5" "--top-p: expected a number in \(0, 1\], got '1\.5'$" "$LLMCHAT" -m "$good" --top-p 1.5
expect_usage "--temp -1" "--temp: expected a number in \[0, 100\], got '-1'$" "$LLMCHAT" -m "$good" --temp -1
expect_usage "--min-p 2" "--min-p: expected a number in \[0, 1\], got '2'$" "$LLMCHAT" -m "$good" --min-p 2
expect_usage "--repeat-penalty 0" "--repeat-penalty: expected a number in \[0\.01, 100\], got '0'$" \
	"$LLMCHAT" -m "$good" --repeat-penalty 0
expect_usage "--top-k -1" "--top-k: expected an integer from 0 to 1073741824, got '-1'$" "$LLMCHAT" -m "$good" --top-k -1
expect_usage "--max-tokens 0" "--max-tokens: expected an integer from 1 to 1073741824, got '0'$" "$LLMCHAT" -m "$good" --max-tokens 0
expect_usage "--ctx 0" "--ctx: expected an integer from 1 to 16777216, got '0'$" "$LLMCHAT" -m "$good" --ctx 0
expect_usage "--threads 0" "--threads: expected an integer from 1 to 4096, got '0'$" "$LLMCHAT" -m "$good" --threads 0

printf '# mine\ntemp = 0.5\ntop_p = 0\n' >"$XDG_CONFIG_HOME/llmchat/config"
check "top_p = 0 in the config file" 0 "/llmchat/config:3: top_p: expected a number in \(0, 1\], got '0' \(line ignored\)" \
	"$LLMCHAT" -m "$good" --temp 0 --max-tokens 2
rm "$XDG_CONFIG_HOME/llmchat/config"
printf 'temp = 0.5\ntop_p = 0\n---\nYou are terse.\n' >"$presets/zero-p.txt"
check "top_p = 0 in a preset" 0 "/presets/zero-p\.txt:2: top_p: expected a number in \(0, 1\], got '0'; no preset used" \
	"$LLMCHAT" -m "$good" --temp 0 --max-tokens 2 --preset zero-p
rm "$presets/zero-p.txt"

# ---- --list-presets: what a file holds never reaches the terminal as control bytes ----
esc=$(printf '\033')
printf '\033]0;owned\007\033[2JHello from a file\n' >"$presets/escape.txt"
printf 'Plain.\n' >"$presets/name$esc[31m.txt"
check "--list-presets with control bytes" 0 "" "$LLMCHAT" --list-presets
is "$(grep -c "$esc" "$TMP/out")" 0 "--list-presets writes no ESC byte"
like "$(cat "$TMP/out")" '^escape +\\x1b\]0;owned\\x07\\x1b\[2JHello from a file$' "a preset's control bytes are shown as \\xNN"
like "$(cat "$TMP/out")" '^name\\x1b\[31m +Plain\.$' "a preset's name is escaped too"
rm -f "$presets/escape.txt" "$presets/name$esc[31m.txt"

# ---- CPU threads that cannot be started: llmchat's message, not libgomp's exit ----
# A process limit (as another user: root is exempt) makes pthread_create fail the way a
# memory limit does, and works under AddressSanitizer (ulimit -v does not: ASan reserves
# terabytes of address space).  LeakSanitizer needs a thread of its own: off here.
if [ -n "$other_user" ] && command -v prlimit >/dev/null 2>&1; then
	check "--threads 4 under a process limit" nonzero \
		"^llmchat: cannot start 4 CPU threads: Resource temporarily unavailable \(try --threads 1" \
		env ASAN_OPTIONS=detect_leaks=0 $as_user prlimit --nproc=1 "$LLMCHAT" -m "$good" --threads 4 --max-tokens 2
	check "--threads 1 under the same limit" 0 "tokens/s" \
		env ASAN_OPTIONS=detect_leaks=0 $as_user prlimit --nproc=1 "$LLMCHAT" -m "$good" --threads 1 --max-tokens 2
else
	echo "ok $((tap_n += 1)) - # SKIP a process limit: no other user or no prlimit"
fi
if grep -q __asan_init "$LLMCHAT"; then
	echo "ok $((tap_n += 1)) - # SKIP ulimit -v: an AddressSanitizer build reserves more address space than any limit allows"
else
	# 1 GiB stacks for 3 more threads cannot fit in 2 GiB of address space; the rest does
	check "--threads 4 under ulimit -v" nonzero \
		"^llmchat: cannot start 4 CPU threads: Resource temporarily unavailable \(try --threads 1" \
		sh -c 'ulimit -v 2097152 && OMP_STACKSIZE=1G exec "$@"' sh "$LLMCHAT" -m "$good" --ctx 1024 --threads 4 --max-tokens 2
fi
done_testing
