#!/bin/sh
# tmux_no_tui.sh - --no-tui on a terminal: one line says how to send, the message is
# typed over several lines, one Ctrl-D on a line of its own sends it, and the answer
# streams to the terminal; the program then ends (status 0).
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/tui/tmux_lib.sh"

start plain --no-tui
wait_file "$TMP/plain.err" 60
is "$(head -n 1 "$TMP/plain.err")" "llmchat: type your message, then Ctrl-D on a line of its own to send it" \
	"--no-tui on a terminal says how to send the message (on stderr)"
$T send-keys -t plain "Who" Enter "are you?" Enter
wait_for plain "^are you\?$" 10; ok $? "the message is typed over two lines"
screen plain | grep -q "I am the tiny test model"; ok $((1 - $?)) "... and nothing is sent before Ctrl-D"
$T send-keys -t plain C-d
wait_for plain "I am the tiny test model of llmchat" 30; ok $? "one Ctrl-D sends it, and the answer comes"
wait_file "$TMP/plain.exit" 30
is "$(cat "$TMP/plain.exit" 2>/dev/null)" "EXIT=0" "then it ends with status 0"
grep -q "Sanitizer" "$TMP/plain.err"; ok $((1 - $?)) "no sanitizer report"

done_testing
