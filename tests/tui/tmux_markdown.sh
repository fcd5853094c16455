#!/bin/sh
# tmux_markdown.sh - light Markdown on a real screen: /load a conversation whose
# answer holds a table, quotes, a rule, a link and spans; check the drawn rows, the
# table falling back to its raw lines on a narrow window, and that /save keeps the
# raw text.
. "$SRCDIR/tests/lib.sh"

. "$SRCDIR/tests/tui/tmux_lib.sh"

python3 -c 'import json, sys
answer = ("Intro with **bold**, ~~old~~ and a [link](https://example.com).\n\n"
          "| Name | Count |\n|:-----|------:|\n| apples | 3 |\n| kiwis | 12 |\n\n"
          "> quoted **text**\n>> nested\n\n---\nsnake_case_name stays")
json.dump({"messages": [{"role": "user", "content": "Show me Markdown"},
                        {"role": "assistant", "content": answer}]}, open(sys.argv[1], "w"))
open(sys.argv[2], "w").write(answer)' "$TMP/md.json" "$TMP/answer.txt"

start md
wait_for md "tiny-bf16.*ctx 0/" 60; ok $? "the interface is up"
$T send-keys -t md "/load $TMP/md.json" Enter
wait_for md "Loaded 2 messages" 10; ok $? "/load takes the conversation"

rows=$(screen md)
# has LINE: whether the screen has the whole row LINE
has() { printf '%s\n' "$rows" | grep -Fxq -- "$1"; }
has "Intro with bold, old and a link (https://example.com)."; ok $? "spans lose their markers; the link shows its url"
is "$(printf '%s\n' "$rows" | grep -A3 '^Name ')" "Name   │ Count
───────┼──────
apples │     3
kiwis  │    12" "the table's columns line up, the count right-aligned, the delimiter row a rule"
has "│ quoted text" && has "│ │ nested"; ok $? "quotes are drawn behind bars"
printf '%s\n' "$rows" | grep -q '^> quoted'; ok $((1 - $?)) "no quote looks like the user's own '> ' lines"
has "$(printf '─%.0s' $(seq 80))"; ok $? "the rule spans the window"
has "snake_case_name stays"; ok $? "snake_case_name stays as it is"

$T resize-window -t md -x 13 -y 24   # the table is 14 columns wide
wait_for md "^\| Name \|" 10 && ! screen md | grep -q "┼"; ok $? "on a window narrower than the table its raw lines show"
$T resize-window -t md -x 80 -y 24
wait_for md "^apples │     3$" 10; ok $? "widened again, the table is aligned again"

$T send-keys -t md "/save $TMP/saved.json" Enter
wait_for md "Saved [0-9]+ messages" 10; ok $? "/save reports the messages saved"
python3 -c 'import json, sys
sys.exit(0 if json.load(open(sys.argv[1]))["messages"][1]["content"] == open(sys.argv[2]).read() else 1)' \
	"$TMP/saved.json" "$TMP/answer.txt"
ok $? "the saved answer is the raw Markdown, not what the screen shows"

$T send-keys -t md "/quit" Enter
wait_file "$TMP/md.exit" 30
done_testing
