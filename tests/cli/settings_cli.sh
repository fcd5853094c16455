#!/bin/sh
# settings_cli.sh - --list-presets, --list-themes, and the config file as the
# program reads it (no model needed).
. "$SRCDIR/tests/lib.sh"
export XDG_CONFIG_HOME="$TMP/config"
unset NO_COLOR LLMCHAT_MODEL

out=$("$LLMCHAT" --list-presets); status=$?
is "$status" "0" "--list-presets succeeds"
for name in default concise coder translator pirate; do
	like "$out" "^$name +" "--list-presets shows $name"
done
mkdir -p "$XDG_CONFIG_HOME/llmchat/presets"
printf 'temp = 0.3\n---\nYou answer in haiku.\n' >"$XDG_CONFIG_HOME/llmchat/presets/haiku.txt"
printf 'temp = warm\n---\nx\n' >"$XDG_CONFIG_HOME/llmchat/presets/bad.txt"
out=$("$LLMCHAT" --list-presets)
like "$out" "^haiku +You answer in haiku\." "a user preset is listed with its prompt"
like "$out" "^bad +\(error: .*bad\.txt:1:" "a broken user preset is listed with its file and line"

out=$("$LLMCHAT" --list-themes)
for name in default light solarized-dark gruvbox mono; do
	like "$out" "^$name\$" "--list-themes shows $name"
done

# a line of the config file that cannot be used is reported with file:line and left
# out; the rest of the file is kept
printf 'bogus = 1\npreset = pirate\n' >"$XDG_CONFIG_HOME/llmchat/config"
err=$(echo "Hi" | "$LLMCHAT" -m "$SRCDIR/tests/data/models/tiny-bf16" --print-prompt 2>&1 >"$TMP/prompt"); status=$?
is "$status" "0" "an unknown key in the config file does not stop llmchat"
like "$err" "config:1: unknown key 'bogus'.*(line ignored)" "it is reported with its file and line"
like "$(cat "$TMP/prompt")" "You are a friendly pirate" "the config file's other lines are kept (its preset)"

# outside the TUI a preset acts as flags given first (pipe mode, --print-prompt)
model="$SRCDIR/tests/data/models/tiny-bf16"
rm -f "$XDG_CONFIG_HOME/llmchat/config"
out=$(echo "Hi" | "$LLMCHAT" -m "$model" --print-prompt --preset pirate)
like "$out" "You are a friendly pirate" "--preset gives pipe modes its system prompt"
out=$(echo "Hi" | "$LLMCHAT" -m "$model" --print-prompt --preset pirate --system "Be terse.")
like "$out" "Be terse\." "--system wins over the preset's prompt"
out=$(echo "Hi" | "$LLMCHAT" -m "$model" --print-prompt --preset haiku)
like "$out" "You answer in haiku\." "a user preset works in pipe modes"
err=$(echo "Hi" | "$LLMCHAT" -m "$model" --print-prompt --preset bad 2>&1 >/dev/null); status=$?
is "$status" "0" "a broken preset does not stop pipe modes"
like "$err" "bad\.txt:1: temp: expected a number in \[0, 100\], got 'warm'; no preset used" "it is reported with its file and line"

err=$("$LLMCHAT" --preset 2>&1); status=$?
is "$status" "2" "--preset without a name is a usage error"
done_testing
