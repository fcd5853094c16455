#!/bin/sh
# tmux_history.sh - no conversation is ever lost, and past ones come back: /load
# starts a new history file (the one before stays byte for byte), kill -9 in the
# middle of an answer keeps the answer so far (saved about once a second), a
# conversation that ends on a user message resumes and /retry answers it,
# --resume=ID|FILE, /history lists and reopens conversations, and the status
# line counts the context of a conversation loaded or resumed before any answer.
. "$SRCDIR/tests/lib.sh"

. "$SRCDIR/tests/tui/tmux_lib.sh"

HIST="$XDG_STATE_HOME/llmchat/history"

# write_conversation FILE MTIME ROLE CONTENT [ROLE CONTENT]...: a conversation file
# (MTIME in seconds since the epoch; "-" leaves it as written)
write_conversation() {
	python3 -c 'import json, os, sys
path, mtime, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
m = [{"role": rest[i], "content": rest[i + 1]} for i in range(0, len(rest), 2)]
json.dump({"format": "llmchat-conversation", "version": 1, "messages": m}, open(path, "w"))
if mtime != "-": os.utime(path, (int(mtime), int(mtime)))' "$@"
}

# messages FILE: the file's messages, one "role: content" a line (newlines as \n),
# then "answering" when the file is so marked
# wait_saved FILE COUNT: until FILE holds COUNT messages and no answer in progress (10 s
# at most).  The file is written as the answer ends, which can come after the screen
# shows it: "tok/s" stays on the status line from an earlier answer, and a tiny
# model's answer can start and end between two looks for "answering".
wait_saved() {
	i=0
	while [ $i -lt 100 ]; do
		messages "$1" >"$TMP/saved" 2>/dev/null && [ "$(grep -vc '^answering$' "$TMP/saved")" -eq "$2" ] &&
			! grep -q '^answering$' "$TMP/saved" && return 0
		sleep 0.1; i=$((i + 1))
	done
	return 1
}

messages() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
for m in d["messages"]: print("%s: %s" % (m["role"], m["content"].replace("\n", "\\n")))
if d.get("answering"): print("answering")' "$1"
}

# context SESSION: the context count on the status line (a key first clears the hint
# that stands in its place)
context() {
	$T send-keys -t "$1" End
	wait_for "$1" "\| ctx [0-9]+/" 5 >/dev/null
	screen "$1" | sed -n 's/.*| ctx \([0-9]*\)\/.*/\1/p' | tail -n 1
}

# ---- /load: a new history file; the conversation before stays in its own -------

start load
wait_for load "ctx 0/" 60; ok $? "the interface starts"
$T send-keys -t load "Who are you?" Enter
wait_idle load && wait_for load "tok/s" 30; ok $? "a first exchange"
before=$(newest_history)
sum_before=$(sha256sum "$before" | cut -d' ' -f1)
write_conversation "$TMP/other.json" - user "Tell me about Ada." assistant "Ada was here."
sum_other=$(sha256sum "$TMP/other.json" | cut -d' ' -f1)
$T send-keys -t load "/load $TMP/other.json" Enter
wait_for load "Loaded 2 messages" 10; ok $? "/load loads"
is "$(sha256sum "$before" | cut -d' ' -f1)" "$sum_before" "/load leaves the conversation before byte for byte in its file"
is "$(ls "$HIST"/*.json | wc -l)" "2" "/load makes a new history file"
loaded=$(newest_history)
[ "$loaded" != "$before" ]; ok $? "... which is not the one before"
is "$(messages "$loaded")" "user: Tell me about Ada.
assistant: Ada was here." "the new file holds the loaded messages"
n=$(context load)
[ "${n:-0}" -gt 10 ]; ok $? "after /load the status line counts the conversation's context ($n tokens), not 0"
$T send-keys -t load "Who are you?" Enter
wait_idle load && wait_for load "tok/s" 30
wait_saved "$loaded" 4
is "$(messages "$loaded" | wc -l)" "4" "the loaded conversation goes on in its new file"
is "$(sha256sum "$before" | cut -d' ' -f1)" "$sum_before" "... and the one before is still untouched"
is "$(sha256sum "$TMP/other.json" | cut -d' ' -f1)" "$sum_other" "... as is the file loaded"
$T send-keys -t load C-d
wait_file "$TMP/load.exit" 30

# ---- kill -9 in the middle of an answer ----------------------------------------

DELAY=200 start kill   # about 5 s of answer: the kill lands well inside it on a busy machine
wait_for kill "ctx 0/" 60
$T send-keys -t kill "Tell me about Ada." Enter
wait_for kill "^Ada is" 30; ok $? "an answer is under way"
sleep 1.6   # the answer so far is saved about once a second
kill -9 "$(cat "$TMP/kill.pid")"
wait_file "$TMP/kill.exit" 30
is "$(cat "$TMP/kill.exit")" "EXIT=137" "kill -9 ends it"
killed=$(newest_history)
messages "$killed" >"$TMP/killed.txt"
is "$(sed -n 1p "$TMP/killed.txt")" "user: Tell me about Ada." "the history file holds the message"
like "$(sed -n 2p "$TMP/killed.txt")" "^assistant: Ada is ." "... and the answer as far as it had come"
is "$(sed -n 3p "$TMP/killed.txt")" "answering" "... marked as being written"
partial=$(sed -n 2p "$TMP/killed.txt" | sed 's/^assistant: //')

start resumed --resume
wait_for resumed "^Resumed" 60; ok $? "--resume reopens the killed conversation"
wait_for resumed "^Ada is" 5; ok $? "the answer so far is on the screen"
wait_for resumed "cut short" 5; ok $? "a notice says the answer was cut short"
n=$(context resumed)
[ "${n:-0}" -gt 10 ]; ok $? "after --resume the status line counts the conversation's context ($n tokens), not 0"
$T send-keys -t resumed "/retry" Enter
wait_idle resumed && wait_for resumed "tok/s" 30; ok $? "/retry answers again"
messages "$killed" >"$TMP/retried.txt"
is "$(wc -l <"$TMP/retried.txt")" "2" "the file holds one finished exchange, no longer marked"
full=$(sed -n 2p "$TMP/retried.txt" | sed 's/^assistant: //')
case "$full" in "$partial"?*) r=0 ;; *) r=1 ;; esac
ok $r "the saved part was a prefix of the whole answer (${#partial} of ${#full} bytes)"
$T send-keys -t resumed C-d
wait_file "$TMP/resumed.exit" 30

# ---- past conversations: --resume=ID|FILE, /history ----------------------------

# a folder of its own: three conversations written at known times, and a file that is none
S2="$TMP/state2"
H2="$S2/llmchat/history"
mkdir -p "$H2"
write_conversation "$H2/20261201-100000-1.json" 1000 user "Who are you?"
write_conversation "$H2/20261202-100000-2.json" 2000 user "Second, about dogs" assistant "Woof."
write_conversation "$H2/20261203-100000-3.json" 3000 system "Be brief." user "Third, about birds" assistant "Tweet."
echo "not JSON" >"$H2/notes.json"

EXTRA_ENV="XDG_STATE_HOME=$S2" start bad --resume=20990101-000000-9
wait_file "$TMP/bad.exit" 60
is "$(cat "$TMP/bad.exit")" "EXIT=1" "--resume=ID of no conversation: exit status 1"
is "$(grep -c . "$TMP/bad.err")" "1" "... one line on stderr"
like "$(cat "$TMP/bad.err")" "^llmchat: no conversation '20990101-000000-9'" "... naming the ID"

"$LLMCHAT" -m "$MODEL" --resume 20261201-100000-1 </dev/null >/dev/null 2>"$TMP/space.err"
is "$?" "2" "--resume ID (a space, not =) is a usage error"
like "$(cat "$TMP/space.err")" "unexpected argument '20261201-100000-1'.*--resume=ID" "... that shows the --resume=ID form"

# a conversation that ends on a user message (killed before any answer was saved)
EXTRA_ENV="XDG_STATE_HOME=$S2" start unanswered --resume=20261201-100000-1 --no-color
wait_for unanswered "^Resumed .*20261201-100000-1.json" 60; ok $? "--resume=ID opens that conversation"
wait_for unanswered "has no answer" 5; ok $? "a notice says its last message has no answer"
$T send-keys -t unanswered "/retry" Enter
wait_idle unanswered && wait_for unanswered "^I am the tiny" 30; ok $? "/retry answers the unanswered message"
is "$(screen unanswered | grep -c '^> Who are you?')" "1" "... shown once"
wait_saved "$H2/20261201-100000-1.json" 2
is "$(messages "$H2/20261201-100000-1.json" | cut -c1-22)" "user: Who are you?
assistant: I am the ti" "the answer goes into that conversation's own file"
$T send-keys -t unanswered C-d
wait_file "$TMP/unanswered.exit" 30

# /edit on a conversation that ends on a user message
write_conversation "$H2/20261204-100000-4.json" 500 user "Hello" assistant "Hi." user "Edit me"
EXTRA_ENV="XDG_STATE_HOME=$S2" start edit --resume="$H2/20261204-100000-4.json"
wait_for edit "^Resumed" 60; ok $? "--resume=FILE opens that file"
$T send-keys -t edit "/edit" Enter
wait_for edit "Edit the message" 10; ok $? "/edit takes the unanswered message back"
is "$(screen edit | grep -c '^> Edit me')" "1" "... into the editor, out of the transcript"
is "$(messages "$H2/20261204-100000-4.json" | wc -l)" "2" "... and out of the file"
$T send-keys -t edit C-u C-d
wait_file "$TMP/edit.exit" 30
touch -d @500 "$H2/20261204-100000-4.json"   # back to the oldest

# a file outside the history folder is the user's own: going on with it makes a new one
write_conversation "$TMP/outside.json" - user "Outside" assistant "Yes."
sum_outside=$(sha256sum "$TMP/outside.json" | cut -d' ' -f1)
EXTRA_ENV="XDG_STATE_HOME=$S2" start outside --resume="$TMP/outside.json"
wait_for outside "^Resumed" 60
$T send-keys -t outside "Who are you?" Enter
wait_idle outside && wait_for outside "tok/s" 30
is "$(sha256sum "$TMP/outside.json" | cut -d' ' -f1)" "$sum_outside" "--resume=FILE outside the history folder leaves the file as it is"
grep -l '"Outside"' "$H2"/*.json >/dev/null 2>&1; ok $? "... and goes on in a new file of the history folder"
$T send-keys -t outside C-d
wait_file "$TMP/outside.exit" 30
rm -f "$(grep -l '"Outside"' "$H2"/*.json)"
touch -d @1000 "$H2/20261201-100000-1.json"   # back to the oldest, as written above

# /history: newest first, numbered, with date, message count and first words
EXTRA_ENV="XDG_STATE_HOME=$S2" start hist
wait_for hist "ctx 0/" 60
$T send-keys -t hist "/history" Enter
wait_for hist "Conversations, newest first" 10; ok $? "/history lists the past conversations"
screen hist >"$TMP/hist.txt"
like "$(grep -E '^ +1\. ' "$TMP/hist.txt")" "^ +1\. [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} +2 msg +Third, about birds$" \
	"number 1 is the newest: date, messages (the system prompt aside), first words"
like "$(grep -E '^ +2\. ' "$TMP/hist.txt")" "2 msg +Second, about dogs$" "number 2 is the next"
like "$(grep -E '^ +3\. ' "$TMP/hist.txt")" "2 msg +Who are you\?$" "number 3 the one after"
like "$(grep -E '^ +4\. ' "$TMP/hist.txt")" "2 msg +Hello$" "number 4 the oldest"
grep -q "skipped: 1 file of the folder that is no conversation" "$TMP/hist.txt"; ok $? "a file that is no conversation is skipped, and counted"
$T send-keys -t hist "/history 2" Enter
wait_for hist "Conversation 2 \(20261202-100000-2\)" 10; ok $? "/history 2 opens number 2"
wait_for hist "^> Second, about dogs" 5 && wait_for hist "^Woof\." 5; ok $? "... its messages are on the screen"
n=$(context hist)
[ "${n:-0}" -gt 5 ]; ok $? "... and the status line counts its context ($n tokens)"
$T send-keys -t hist "Who are you?" Enter
wait_idle hist && wait_for hist "^I am the tiny" 30
wait_saved "$H2/20261202-100000-2.json" 4
is "$(messages "$H2/20261202-100000-2.json" | wc -l)" "4" "it goes on in its own file"
is "$(ls "$H2"/*.json | wc -l)" "5" "no new file is made"
$T send-keys -t hist "/history" Enter
wait_for hist "^\* +1\. .* 4 msg +Second, about dogs$" 10; ok $? "now it is the newest, marked as the one on the screen"
$T send-keys -t hist "/history 9" Enter
wait_for hist "/history 9: there are 4 conversations" 10; ok $? "/history N beyond the list says how many there are"
$T send-keys -t hist C-u "/history x" Enter
wait_for hist "/history x: give the number /history shows" 10; ok $? "/history with no number says what it takes"
$T send-keys -t hist C-u "/system Answer in one line." Enter
wait_for hist "System prompt set\." 10
python3 -c 'import json, sys; m = json.load(open(sys.argv[1]))["messages"]; sys.exit(0 if m[0] == {"role": "system", "content": "Answer in one line."} else 1)' \
	"$H2/20261202-100000-2.json"
ok $? "/system on a kept conversation is saved at once, before any answer"
$T send-keys -t hist C-d
wait_file "$TMP/hist.exit" 30
is "$(cat "$TMP/hist.exit")" "EXIT=0" "and it quits cleanly"

cat "$TMP"/*.err | grep -q "Sanitizer"; ok $((1 - $?)) "no sanitizer report"

done_testing
