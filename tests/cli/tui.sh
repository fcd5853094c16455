#!/bin/sh
# tui.sh - the interactive interface driven through tmux on the tiny test model:
# answers stream in, multi-line input, commands, Ctrl-C mid-answer, resize,
# /save and /load, wide characters, SIGTERM, a full disk under the history folder
# (a tmpfs, when run as root).  Each check polls the screen with a
# timeout rather than sleeping a fixed time (the ASan build is slow).
. "$SRCDIR/tests/lib.sh"

. "$SRCDIR/tests/tui/tmux_lib.sh"

# a terminal that cannot move its cursor: refused in one line that says what to do instead
$T new-session -d -s dumb -x 160 -y 10 "env TERM=dumb '$LLMCHAT' -m '$MODEL' 2>'$TMP/dumb.err'; echo EXIT=\$? >'$TMP/dumb.exit'; sleep 60"
wait_file "$TMP/dumb.exit" 30
is "$(cat "$TMP/dumb.exit")" "EXIT=1" "TERM=dumb: the interface is refused"
like "$(cat "$TMP/dumb.err")" "^llmchat: this terminal \(TERM=dumb\) cannot show the interface.*--no-tui" \
	"... in one line that suggests --no-tui or a pipe"

DELAY=5 EXTRA_ENV="DISPLAY= WAYLAND_DISPLAY=" start main   # no clipboard program: /copy uses OSC 52
$T set -s set-clipboard on   # OSC 52 from the program becomes a tmux buffer (/copy)
wait_for main "tiny-bf16.*BF16.*ctx 0/" 60; ok $? "the status line shows the model, its format and the context"

# an answer streams into the transcript, and the status line gets its speed
$T send-keys -t main "Who are you?" Enter
wait_for main "^> Who are you\?" 10; ok $? "the message appears in the transcript"
wait_idle main && wait_for main "tok/s" 5; ok $? "the answer completes and the status shows tokens/s"
answer=$(screen main | sed -n '/^> Who are you?/,/^ tiny-bf16/p' | sed '1d;$d' | grep -v '^$' | head -n 3)
like "$answer" "^I am the tiny test model of llmchat\. I can recite" "the model's answer is on the screen"

# /retry answers the same message again (greedy: the same answer); /copy puts it on the clipboard
$T send-keys -t main "/retry" Enter
wait_for main "answering" 3 >/dev/null; wait_idle main
is "$(screen main | grep -c '^> Who are you?')" "1" "/retry keeps one copy of the message"
answer2=$(screen main | sed -n '/^> Who are you?/,/^ tiny-bf16/p' | sed '1d;$d' | grep -v '^$' | head -n 3)
is "$answer2" "$answer" "/retry at temperature 0 gives the same answer"
$T send-keys -t main "/copy" Enter
wait_for main "Copied the last answer" 10; ok $? "/copy reports the copy"
$T show-buffer >"$TMP/copied" 2>/dev/null
python3 -c 'import glob, json, os, sys
f = max(glob.glob(sys.argv[1] + "/llmchat/history/*.json"), key=os.path.getmtime)
sys.stdout.write(json.load(open(f))["messages"][-1]["content"])' "$XDG_STATE_HOME" >"$TMP/answer"
cmp -s "$TMP/copied" "$TMP/answer"; ok $? "the clipboard (OSC 52) holds the raw answer, as the history file has it"

# multi-line input: Ctrl-J and Alt-Enter insert newlines, Enter sends the whole
$T send-keys -t main "first line" C-j "second line" M-Enter "third line"
wait_for main "^  third line" 10; ok $? "the editor holds three lines"
$T send-keys -t main Enter
wait_for main "^  second line" 10 && screen main | grep -q "^> first line"; ok $? "a multi-line message is sent whole"
wait_idle main

# word and line movement: Ctrl-Left, Home, End, Ctrl-W
$T send-keys -t main "alpha beta" C-Left "X" Home "Y" End " gamma" C-w "delta"
wait_for main "^> Yalpha Xbeta delta" 10; ok $? "Ctrl-Left, Home, End and Ctrl-W edit where they should"
$T send-keys -t main C-u
wait_for main "^> Type a message" 10; ok $? "Ctrl-U empties the line"

# a bracketed paste of several lines goes into the editor, newlines and all, unsent
$T set-buffer -b p "$(printf 'pasted one\npasted two\npasted three')"
$T paste-buffer -p -b p -t main
wait_for main "^  pasted three" 10 && screen main | grep -q "^> pasted one"; ok $? "a pasted block stays in the editor"
$T send-keys -t main C-c
wait_for main "^> Type a message" 10
$T send-keys -t main Up
wait_for main "^  pasted three" 10; ok $? "Up recalls the text Ctrl-C cleared"
$T send-keys -t main C-c

# commands
$T send-keys -t main "/help" Enter
wait_for main "/retry" 10; ok $? "/help lists the commands"

# scrolling back: the mouse wheel (X10 mouse reports, as xterm and tmux send them; with /mouse on) and PgUp/PgDn
$T send-keys -t main "/mouse on" Enter
$T send-keys -t main "/help" Enter
wait_for main "PgUp/PgDn" 10
$T send-keys -t main -l "$(printf '\033[M`!!')"
wait_for main "more below: PgDn$" 10; ok $? "the mouse wheel scrolls back, and the status says so"
$T send-keys -t main -l "$(printf '\033[Ma!!')"
wait_for main "\| preset: default$" 10; ok $? "the wheel down goes back to the end"
$T send-keys -t main PPage
wait_for main "more below: PgDn$" 10; ok $? "PgUp scrolls back"
$T send-keys -t main NPage
wait_for main "\| preset: default$" 10; ok $? "PgDn comes back to the end"
$T send-keys -t main "/frobnicate" Enter
wait_for main "Unknown command /frobnicate" 10; ok $? "an unknown command gets a hint, not the model"
$T send-keys -t main C-u   # its text stayed in the editor
$T send-keys -t main "/set max_tokens 60" Enter
wait_for main "max_tokens 60" 10; ok $? "/set changes a setting"
$T send-keys -t main "/set top_p 0" Enter
wait_for main "/set top_p: expected a number in \\(0, 1\\], got '0'" 10
ok $? "/set checks the range flags and files have (top_p 0 keeps no token)"
$T send-keys -t main C-u

# resize re-wraps: a 60-column message is one row at 80 columns, two at 40
$T send-keys -t main "/clear" Enter
msg="aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll"
$T send-keys -t main "$msg" Enter
wait_for main "^> $msg" 10; ok $? "a 62-column row fits at 80 columns"
wait_idle main
$T resize-window -t main -x 40 -y 20
wait_for main "^> aaaa bbbb cccc dddd eeee ffff gggg$" 10; ok $? "at 40 columns the message re-wraps at a word"
wait_for main "^  hhhh iiii jjjj kkkk llll" 10; ok $? "its continuation row is indented"
widest=$(screen main | python3 -c '
import sys, unicodedata
w = lambda s: sum(2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1 for c in s)
print(max(w(l.rstrip("\n")) for l in sys.stdin))')
ok $([ "$widest" -le 40 ] && echo 0 || echo 1) "no row is wider than 40 columns ($widest)"

# a wide-character message lines up: 19 ideographs (38 columns) after "> " fill a 40-column row
cjk="日本語の文章を正しく折り返して表示できるかどうかを確かめるための試験です"
$T send-keys -t main "/clear" Enter
$T send-keys -t main "$cjk" Enter
wait_for main "^> 日本語の文章を正しく折り返して表示でき$" 10; ok $? "19 CJK characters fill the first 40-column row exactly"
wait_for main "^  るかどうかを確かめるための試験です" 10; ok $? "the rest wraps onto an indented row"
wait_idle main
$T resize-window -t main -x 80 -y 24
wait_for main "^> $cjk" 10; ok $? "back at 80 columns it is one row again"

# /save, /clear, /load round trip
$T send-keys -t main "/save $TMP/saved.json" Enter
wait_for main "Saved [0-9]+ messages" 10; ok $? "/save reports the messages saved"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['messages'][0]['content']==sys.argv[2] and d['messages'][1]['role']=='assistant' else 1)" \
	"$TMP/saved.json" "$cjk"; ok $? "the saved file holds the conversation as JSON"
$T send-keys -t main "/clear" Enter
wait_for main "Conversation cleared" 10
screen main | grep -q "^> 日本語"; ok $((1 - $?)) "/clear empties the transcript"
$T send-keys -t main "/load $TMP/saved.json" Enter
wait_for main "^> $cjk" 10 && wait_for main "Loaded 2 messages" 5; ok $? "/load brings the conversation back"

# /edit takes the last message back into the editor and removes its exchange
$T send-keys -t main "/edit" Enter
wait_for main "Edit the message" 10; ok $? "/edit says what it did"
is "$(screen main | grep -c '^> 日本語')" "1" "the message is in the editor only, its exchange gone"
$T send-keys -t main C-u

# /preset switches the system prompt and shows in the status line; /theme recolours
$T send-keys -t main "/preset pirate" Enter
wait_for main "^Preset pirate: You are a friendly pirate" 10 && wait_for main "\| preset: pirate$" 5; ok $? "/preset pirate"
$T send-keys -t main "/system" Enter
wait_for main "^System prompt: You are a friendly pirate" 10; ok $? "/system shows the system prompt"
$T send-keys -t main "/theme gruvbox" Enter
wait_for main "Theme gruvbox" 10 && $T capture-pane -p -e -t main | grep -q "48;5;235m"; ok $? "/theme gruvbox paints its background"

# Ctrl-D on the empty editor quits cleanly; the conversation was kept
$T send-keys -t main C-d
wait_file "$TMP/main.exit" 30
is "$(cat "$TMP/main.exit" 2>/dev/null)" "EXIT=0" "Ctrl-D quits with status 0"
ls "$XDG_STATE_HOME"/llmchat/history/*.json >/dev/null 2>&1; ok $? "the conversation is in the history folder"
is "$(stat -c %a "$XDG_STATE_HOME/llmchat/stderr.log" 2>&1)" "600" "stderr.log is the user's alone (0600), as the history is"
grep -q "Sanitizer" "$TMP/main.err"; ok $((1 - $?)) "no sanitizer report"

# SIGTERM mid-answer: the terminal is restored, the conversation saved, status 143
DELAY=100 start term --resume --no-color
wait_for term "Resumed" 60; ok $? "--resume reopens the last conversation"
$T capture-pane -p -e -t term | grep -Eq "$(printf '\033')\[([0-9;]*;)?([34][0-7]|[34]8;5;[0-9]+)m"; ok $((1 - $?)) "--no-color draws no colours"
# Ctrl-C during an answer stops it and keeps what was produced
$T send-keys -t term "/clear" Enter
wait_for term "Conversation cleared" 10
$T send-keys -t term "Tell me about Ada." Enter
wait_for term "^Ada is" 20; ok $? "the answer is under way"
$T send-keys -t term C-c
wait_for term "Answer stopped" 20; ok $? "Ctrl-C stops the answer"
kept=$(screen term | sed -n '/^> Tell me about Ada/,/^ Answer stopped/p' | sed '1d;$d' | tr '\n' ' ')
like "$kept" "^ *Ada is" "what was produced stays on the screen"
screen term | grep -q "red sail\."; ok $((1 - $?)) "and the rest was not produced"
screen term | grep -q "answering"; ok $((1 - $?)) "the status no longer says answering"

# SIGTERM while answering, with text typed but not sent
$T send-keys -t term "/clear" Enter
wait_for term "Conversation cleared" 10   # the last answer is off the screen
$T send-keys -t term "Tell me about Ada." Enter
wait_for term "^Ada is" 20
$T send-keys -t term "typed but not sent"
wait_for term "^> typed but not sent" 10
kill -TERM "$(cat "$TMP/term.pid")"
wait_file "$TMP/term.exit" 30
is "$(cat "$TMP/term.exit" 2>/dev/null)" "EXIT=143" "SIGTERM ends with status 143"
is "$($T display-message -p -t term '#{alternate_on}')" "0" "the terminal has left the alternate screen"
grep -q "conversation kept in" "$TMP/term.err"; ok $? "it says where the conversation is kept"
grep -q "Sanitizer" "$TMP/term.err"; ok $((1 - $?)) "no sanitizer report after SIGTERM"
python3 -c 'import glob, json, os, sys
f = max(glob.glob(sys.argv[1] + "/llmchat/history/*.json"), key=os.path.getmtime)
m = json.load(open(f))["messages"]
good = len(m) >= 2 and m[-2]["content"] == "Tell me about Ada." and m[-1]["content"].startswith("Ada is")
good or print("# %s: %s" % (f, json.dumps(m)[-300:]))
sys.exit(0 if good else 1)' "$XDG_STATE_HOME"
ok $? "the interrupted exchange is in the history file"

# the unsent text comes back at the next start
start draft --preset nosuch
wait_for draft "^> typed but not sent" 60; ok $? "text left unsent is back in the editor at the next start"
$T send-keys -t draft End   # a key clears the hint in the status line
wait_for draft "unknown preset 'nosuch'" 5 && wait_for draft "\| preset: default$" 5; ok $? "an unknown preset is reported and the default used"
$T send-keys -t draft C-u C-d
wait_file "$TMP/draft.exit" 30
is "$(cat "$TMP/draft.exit" 2>/dev/null)" "EXIT=0" "and it quits cleanly"

# A full disk: the history folder on a tmpfs of 256 KiB (root only), filled up after
# the first exchange.  What the interface says at its end must be true: the last
# save failed, why, and that the file holds the conversation as of the save before.
FULL="$TMP/full"
mkdir -p "$FULL"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=256k llmchat-test "$FULL" 2>/dev/null; then
	trap '$T kill-server 2>/dev/null; umount "$FULL" 2>/dev/null; rm -rf "$TMP"' EXIT
	# start_full NAME: as start, with the state (history) folder on the tmpfs
	start_full() {
		$T new-session -d -s "$1" -x 80 -y 24 "XDG_STATE_HOME='$FULL' LLMCHAT_STREAM_DELAY_MS=0 sh '$TMP/run.sh' $1"
	}
	start_full disk
	wait_for disk "ctx 0/" 60
	$T send-keys -t disk "Who are you?" Enter
	wait_for disk "^> Who are you\?" 10 && wait_idle disk
	ls "$FULL"/llmchat/history/*.json >/dev/null 2>&1; ok $? "full disk: the first exchange is saved"
	dd if=/dev/zero of="$FULL/filler" bs=4k 2>/dev/null   # until the tmpfs is full
	$T send-keys -t disk "Tell me about Ada." Enter
	wait_for disk "history not kept" 30; ok $? "full disk: a failed save is reported at once"
	wait_idle disk
	$T send-keys -t disk C-d
	wait_file "$TMP/disk.exit" 30
	is "$(cat "$TMP/disk.exit" 2>/dev/null)" "EXIT=0" "full disk: Ctrl-D quits with status 0"
	grep -q "conversation kept in" "$TMP/disk.err"; ok $((1 - $?)) "full disk: it does not say the conversation was kept"
	like "$(grep '^llmchat: ' "$TMP/disk.err" | tail -n 1)" \
		"^llmchat: the conversation's last save failed \(.*No space left on device\); $FULL/llmchat/history/.*\.json holds it as of the save before$" \
		"full disk: it says the last save failed, why, and where the last good copy is"
	python3 -c 'import glob, json, sys
m = json.load(open(glob.glob(sys.argv[1] + "/llmchat/history/*.json")[0]))["messages"]
sys.exit(0 if [x["content"] for x in m][0] == "Who are you?" and len(m) == 2 else 1)' "$FULL"
	ok $? "full disk: the file holds the first exchange whole"

	# full from the start: nothing could be saved, and it says so
	start_full never
	wait_for never "ctx 0/" 60
	$T send-keys -t never "Who are you?" Enter
	wait_for never "^> Who are you\?" 10 && wait_idle never
	$T send-keys -t never C-d
	wait_file "$TMP/never.exit" 30
	like "$(grep '^llmchat: ' "$TMP/never.err" | tail -n 1)" \
		"^llmchat: the conversation could not be saved \(.*No space left on device\)$" \
		"full disk from the start: it says the conversation could not be saved, and why"
	umount "$FULL"
else
	echo "# a full disk needs a tmpfs (root, mount): those checks are skipped"
fi

done_testing
