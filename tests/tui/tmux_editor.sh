#!/bin/sh
# tmux_editor.sh - the editor and the scrolls, driven through tmux on the tiny test
# model: emoji sequences take the columns terminals give them (a ZWJ sequence two,
# so a row of them wraps where the screen does), Backspace removes a whole cluster,
# Up in a wrapped line moves a row rather than recalling the history, the prompts
# of the last run come back with Up (from a 0600 file), and Ctrl-End / End / PgDn
# return to the bottom of a growing answer and follow it again.
. "$SRCDIR/tests/lib.sh"
. "$SRCDIR/tests/tui/tmux_lib.sh"

cursor() { $T display -p -t "$1" '#{cursor_x},#{cursor_y}'; }
# the editor's rows: those under the status line
editor_rows() { screen "$1" | sed -n '/^ [^ ].*| ctx [0-9]*\/[0-9]*/,$p' | sed '1d'; }
count() { printf '%s' "$1" | grep -o -- "$2" | wc -l | tr -d ' '; }

CODER=$(printf '\360\237\221\251\342\200\215\360\237\222\273')   # woman ZWJ laptop: two columns
FLAG=$(printf '\360\237\207\253\360\237\207\267')                  # FR: two columns
TONE=$(printf '\360\237\221\215\360\237\217\275')                  # thumbs up, skin tone

start ed
wait_for ed "tiny-bf16.*ctx 0/" 60; ok $? "the interface starts"

# a row of ZWJ sequences: 'x' and 38 of them fill the 77 columns of the first row
line=x; i=0; while [ $i -lt 40 ]; do line="$line$CODER"; i=$((i + 1)); done
$T send-keys -t ed -l "$line"
wait_for ed "^  $CODER$CODER *\$" 10; ok $? "40 ZWJ sequences after 'x': two wrap to the second row"
rows=$(editor_rows ed)
is "$(count "$(printf '%s\n' "$rows" | sed -n 1p)" "$CODER")" "38" "the first row holds 38 of them (two columns each)"
is "$(cursor ed)" "6,23" "the cursor is after the second one on the second row"
$T send-keys -t ed C-u
wait_for ed "Type a message" 10 >/dev/null

# flags: two columns each, the cursor where the screen draws the next character
$T send-keys -t ed -l "ab${FLAG}cd"
wait_for ed "^> ab${FLAG}cd" 10; ok $? "a flag in the editor"
is "$(cursor ed)" "8,23" "a flag is two columns: the cursor is after 'ab', the flag and 'cd'"
$T send-keys -t ed C-u
wait_for ed "Type a message" 10 >/dev/null

# Backspace after an emoji with a skin tone removes both of its code points
$T send-keys -t ed -l "a${TONE}"
$T send-keys -t ed BSpace
$T send-keys -t ed -l "z"
# tmux 3.3a draws a skin tone as two more columns, which ncurses cannot know: Ctrl-L
# redraws the whole screen, so that what it shows is the editor's text
$T send-keys -t ed C-l
wait_for ed "^> az *\$" 10; ok $? "Backspace removes the emoji and its skin tone together"
$T send-keys -t ed C-u

# Up in a line wrapped over three rows moves up a row; the history waits for the first row
$T send-keys -t ed "/help" Enter
wait_for ed "/retry" 10 >/dev/null
long=""; i=0; while [ $i -lt 28 ]; do long="${long}word$i "; i=$((i + 1)); done
long="${long}end"
$T send-keys -t ed -l "$long"
wait_for ed "end *\$" 10
is "$(editor_rows ed | grep -c .)" "3" "the long line wraps over three rows"
$T send-keys -t ed Up
$T send-keys -t ed -l "Q"
wait_for ed "Q" 10 >/dev/null
rows=$(editor_rows ed)
like "$(printf '%s\n' "$rows" | sed -n 2p)" "Q" "Up then a character: it lands in the row above"
like "$(printf '%s\n' "$rows" | sed -n 1p)" "^> word0 word1 " "the text was not replaced by the history"
printf '%s\n' "$rows" | grep -q "^> */help"; ok $((1 - $?)) "and /help was not recalled"
$T send-keys -t ed Up Up Up
wait_for ed "^> /help *\$" 10; ok $? "Up from the first row recalls the history"
$T send-keys -t ed C-u

# a word is not cut at the end of a row
$T send-keys -t ed -l "$long"
wait_for ed "end *\$" 10
is "$(editor_rows ed | sed 's/^..//' | tr ' ' '\n' | grep -v '^$' | grep -Evc '^(word[0-9]+|end)$')" "0" \
	"the editor wraps at spaces: no word is split over two rows"
$T send-keys -t ed C-u

# prompts of this run come back in the next one
$T send-keys -t ed "first line" M-Enter "second line"
$T send-keys -t ed Enter
wait_for ed "answering" 10 >/dev/null; wait_idle ed
$T send-keys -t ed C-d
wait_file "$TMP/ed.exit" 30
is "$(cat "$TMP/ed.exit")" "EXIT=0" "the first run ends"
is "$(stat -c %a "$XDG_STATE_HOME/llmchat/prompts.jsonl" 2>&1)" "600" "the prompts file is the user's alone (0600)"
$T kill-session -t ed

start ed2
wait_for ed2 "tiny-bf16.*ctx 0/" 60
$T send-keys -t ed2 Up
wait_for ed2 "^  second line" 10; ok $? "Up in a new run recalls the last prompt of the one before, both of its lines"
$T send-keys -t ed2 Up Up
wait_for ed2 "^> /help *\$" 10; ok $? "and Up to its first row, then again: the one before it"
$T send-keys -t ed2 C-u C-d
wait_file "$TMP/ed2.exit" 30
grep -q "Sanitizer" "$TMP/ed.err" "$TMP/ed2.err"; ok $((1 - $?)) "no sanitizer report"
$T kill-session -t ed2

# a broken prompts file: one line of warning, and the program starts
printf '"kept"\n{broken\n' >>"$XDG_STATE_HOME/llmchat/prompts.jsonl"
start ed3
wait_for ed3 "prompts.jsonl: 1 line is not a prompt" 60; ok $? "a broken line in the prompts file is a one-line warning"
$T send-keys -t ed3 Up
wait_for ed3 "^> kept *\$" 10; ok $? "the good lines still load"
$T send-keys -t ed3 C-u C-d
wait_file "$TMP/ed3.exit" 30
$T kill-session -t ed3

# scrolling back while an answer grows, and back to the bottom
DELAY=100 start sc
wait_for sc "tiny-bf16.*ctx 0/" 60
$T send-keys -t sc "/help" Enter
$T send-keys -t sc "/help" Enter
wait_for sc "/retry" 10 >/dev/null
$T send-keys -t sc "Tell me about Ada." Enter
wait_for sc "^Ada is" 30; ok $? "the answer is under way"
$T send-keys -t sc PPage
wait_for sc "more below: PgDn *\$" 10; ok $? "PgUp during the answer scrolls back"
sleep 1
screen sc | grep -q "answering"; ok $? "the answer still runs"
$T send-keys -t sc C-End
wait_for sc "answering.*preset: default *\$" 10; ok $? "Ctrl-End: the scroll indicator is gone while the answer runs"
wait_for sc "red sail\." 60; ok $? "and the answer's new text appears at the bottom"
wait_idle sc
$T send-keys -t sc "/clear" Enter "/help" Enter "/help" Enter
wait_for sc "/retry" 10 >/dev/null
$T send-keys -t sc "Tell me about Ada." Enter
wait_for sc "^Ada is" 30 >/dev/null
$T send-keys -t sc PPage
wait_for sc "more below: PgDn *\$" 10
$T send-keys -t sc End
wait_for sc "preset: default *\$" 10; ok $? "End in an empty editor also goes back to the bottom"
wait_idle sc
$T send-keys -t sc C-d
wait_file "$TMP/sc.exit" 30
# PgDn back to the bottom, on slower pieces: the answer (about 25 of them) must outlast
# the paging on a busy machine (at 100 ms a piece it once ended before the first PgDn)
DELAY=400 start sd
wait_for sd "tiny-bf16.*ctx 0/" 60
$T send-keys -t sd "/help" Enter "/help" Enter
wait_for sd "/retry" 10 >/dev/null
$T send-keys -t sd "Tell me about Ada." Enter
wait_for sd "^Ada is" 30 >/dev/null
$T send-keys -t sd PPage
wait_for sd "more below: PgDn *\$" 10
i=0
while [ $i -lt 20 ] && screen sd | grep -q "more below: PgDn *\$"; do $T send-keys -t sd NPage; sleep 0.3; i=$((i + 1)); done
screen sd >"$TMP/sd.screen"
grep -q "answering" "$TMP/sd.screen"; ok $? "PgDn reached the bottom while the answer runs"
grep -q "answering" "$TMP/sd.screen" || { echo "# after $i PgDn:"; sed 's/^/#   /' "$TMP/sd.screen"; }
wait_for sd "red sail\." 60; ok $? "PgDn to the bottom follows the answer again"
$T send-keys -t sd C-d
wait_file "$TMP/sd.exit" 30
grep -q "Sanitizer" "$TMP/sc.err" "$TMP/sd.err" "$TMP/ed3.err"; ok $((1 - $?)) "no sanitizer report"

done_testing
