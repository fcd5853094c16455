#!/bin/sh
# tmux_speculation.sh - speculative decoding in the interface: with --draft-model the
# answer is the plain one, the status line shows the share of proposals kept and
# /stats counts them; with --lookup the status line names lookup; without either it
# shows neither.
. "$SRCDIR/tests/lib.sh"

. "$SRCDIR/tests/tui/tmux_lib.sh"

plain=$(echo "Who are you?" | "$LLMCHAT" -m "$MODEL" --temp 0 2>/dev/null)
first_words=$(printf '%s' "$plain" | cut -c1-30)

start draft --draft-model "$SRCDIR/tests/data/models/tiny-int8"
wait_for draft "ctx 0/" 60; ok $? "the interface starts with a draft model"
$T send-keys -t draft "Who are you?" Enter
wait_for draft "^> Who are you\?" 10 && wait_idle draft && wait_for draft "tok/s" 30
screen draft | grep -qF "$first_words"; ok $? "the answer is the plain greedy one: $first_words"
wait_for draft "\| draft [0-9]+% kept" 5; ok $? "the status line shows the share of the draft's proposals kept"
$T send-keys -t draft "/stats" Enter
wait_for draft "Draft model: [0-9]+ steps proposed [0-9]+ tokens, [0-9]+ kept \([0-9]+%\)\." 10
ok $? "/stats counts the steps, the proposals and those kept"
$T send-keys -t draft C-d
wait_file "$TMP/draft.exit" 30
is "$(cat "$TMP/draft.exit")" "EXIT=0" "it quits cleanly"
grep -q "tiny-int8 (INT8" "$TMP/draft.err"; ok $? "the draft's load line is on stderr after the interface"

start lookup --lookup
wait_for lookup "ctx 0/" 60
$T send-keys -t lookup "Say: I am the tiny test model of llmchat. I am the tiny test model of llmchat." Enter
wait_for lookup "^> Say" 10 && wait_idle lookup && wait_for lookup "tok/s" 30
wait_for lookup "\| lookup [0-9]+% kept" 5; ok $? "with --lookup the status line names lookup (when it proposed)"
$T send-keys -t lookup C-d

start none
wait_for none "ctx 0/" 60
$T send-keys -t none "Who are you?" Enter
wait_for none "^> Who are you\?" 10 && wait_idle none && wait_for none "tok/s" 30
screen none | grep -Eq "(lookup|draft) [0-9]+% kept"; [ $? -ne 0 ]; ok $? "without speculation the status line shows no share kept"
$T send-keys -t none C-d
grep -q "runtime error\|AddressSanitizer\|LeakSanitizer" "$TMP"/*.err; [ $? -ne 0 ]; ok $? "no sanitizer report"
done_testing
