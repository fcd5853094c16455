#!/bin/sh
# tmux_messages.sh - the interface says what happened, whole and true: /copy names
# the way it copied (a clipboard program or OSC 52) and reports its failure; /copy
# code copies a code block; long errors wrap in the transcript; paths are the
# real ones and ~ is the home folder; the status line is labelled; a mistyped
# command stays in the editor; the mouse is the terminal's unless asked for.
. "$SRCDIR/tests/lib.sh"

. "$SRCDIR/tests/tui/tmux_lib.sh"

# fake clipboard programs, first in PATH: one keeps its input, one fails, one hangs
mkdir -p "$TMP/bin" "$TMP/failbin" "$TMP/hangbin"
cat >"$TMP/bin/xclip" <<EOF
#!/bin/sh
[ "\$*" = "-selection clipboard" ] || { echo "bad arguments: \$*" >"$TMP/xclip.args"; exit 2; }
cat >"$TMP/clip.tmp" && mv "$TMP/clip.tmp" "$TMP/clip"
EOF
printf '#!/bin/sh\ncat >/dev/null\nexit 1\n' >"$TMP/failbin/xclip"
printf '#!/bin/sh\nsleep 30\n' >"$TMP/hangbin/xclip"
chmod +x "$TMP/bin/xclip" "$TMP/failbin/xclip" "$TMP/hangbin/xclip"

# a conversation whose answer holds two code blocks
python3 - "$TMP/code.json" <<'EOF'
import json, sys
answer = "Two ways:\n\n```sh\nls -l\nwc -c file\n```\n\nor\n\n```python\nprint('hi')\n```\n\nDone."
json.dump({"format": "llmchat-conversation", "version": 1,
           "messages": [{"role": "user", "content": "Show me code."},
                        {"role": "assistant", "content": answer}]}, open(sys.argv[1], "w"))
EOF

mkdir -p "$TMP/home"
EXTRA_ENV="PATH=$TMP/bin:$PATH DISPLAY=:99 HOME=$TMP/home" start msg
wait_for msg "ctx 0/" 60; ok $? "the interface starts"
wait_for msg "^ tiny-bf16 .*\| preset: default$" 5; ok $? "the status line labels the preset"
is "$($T display-message -p -t msg '#{mouse_any_flag}')" "0" "the mouse is the terminal's by default (no mouse reports asked)"

$T send-keys -t msg "Who are you?" Enter
wait_for msg "^> Who are you\?" 10 && wait_idle msg && wait_for msg "tok/s" 10
$T send-keys -t msg "/copy" Enter
wait_for msg "Copied the last answer \([0-9]+ bytes\) with xclip\." 10; ok $? "/copy says it copied with xclip"
wait_file "$TMP/clip" 5
python3 -c 'import glob, json, os, sys
f = max(glob.glob(sys.argv[1] + "/llmchat/history/*.json"), key=os.path.getmtime)
sys.stdout.write(json.load(open(f))["messages"][-1]["content"])' "$XDG_STATE_HOME" >"$TMP/answer"
cmp -s "$TMP/clip" "$TMP/answer"; ok $? "xclip got the last answer, as the history file has it"
ok $([ ! -e "$TMP/xclip.args" ] && echo 0 || echo 1) "xclip was asked for the clipboard selection"

# /copy code [N] from a loaded conversation
$T send-keys -t msg "/load $TMP/code.json" Enter
wait_for msg "Loaded 2 messages" 10
rm -f "$TMP/clip"
$T send-keys -t msg "/copy code" Enter
wait_for msg "Copied code block 2 of 2 \(11 bytes\) with xclip" 10; ok $? "/copy code copies the last code block"
wait_file "$TMP/clip" 5
is "$(cat "$TMP/clip")" "print('hi')" "... without its fences"
rm -f "$TMP/clip"
$T send-keys -t msg "/copy code 1" Enter
wait_for msg "Copied code block 1 of 2" 10
wait_file "$TMP/clip" 5
is "$(cat "$TMP/clip")" "$(printf 'ls -l\nwc -c file')" "/copy code 1 copies the first block, its lines whole"
$T send-keys -t msg "/copy code 3" Enter
wait_for msg "/copy code 3: the last answer has 2 code blocks" 10; ok $? "/copy code 3 says there are only 2"
wait_for msg "^> /copy code 3$" 5; ok $? "a known command with a bad argument stays in the editor"
$T send-keys -t msg C-u

# a mistyped command stays in the editor, to be fixed
$T send-keys -t msg "/frobnicate now" Enter
wait_for msg "Unknown command /frobnicate: it stays in the editor" 10; ok $? "an unknown command is reported"
wait_for msg "^> /frobnicate now$" 5; ok $? "... and its text stays in the editor"
$T send-keys -t msg C-u

# a long error wraps in the transcript instead of being cut at the screen's edge
long="$TMP/a-folder-with-a-rather-long-name/and-another-one-below-it/the-conversation-file.json"
$T send-keys -t msg "/load $long" Enter
wait_for msg "No such file" 10; ok $? "/load of a missing file says so"
# rows joined, blanks dropped: a row may end where a blank was
joined=$(screen msg | tr -d ' \n')
case "$joined" in *"$long:Nosuchfileordirectory"*) r=0 ;; *) r=1; screen msg | sed 's/^/#   /' ;; esac
ok $r "the error is whole on the screen, its long path wrapped"
$T send-keys -t msg C-u

# ~ is the home folder; an error names the file given, not a temporary one
$T send-keys -t msg "/save ~/saved.json" Enter
wait_for msg "Saved 2 messages to $TMP/home/saved.json" 10; ok $? "/save ~/x.json saves in the home folder and says where"
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$TMP/home/saved.json"; ok $? "... a JSON file"
mkdir -p "$TMP/ro"
chmod 0555 "$TMP/ro"
ro_target="$TMP/ro/x.json"
if touch "$TMP/ro/probe" 2>/dev/null; then
	# root writes in any folder: below a file, no one can
	ro_target="$TMP/answer/x.json"
fi
$T send-keys -t msg "/save $ro_target" Enter
wait_for msg "cannot create a file in its folder" 10
joined=$(screen msg | tr -d ' \n')
case "$joined" in *"$ro_target:cannotcreateafileinitsfolder"*) r=0 ;; *) r=1; screen msg | sed 's/^/#   /' ;; esac
ok $r "a failed /save names the file given"
case "$joined" in *".tmp."*) r=1 ;; *) r=0 ;; esac
ok $r "... and no temporary file"
$T send-keys -t msg C-u

# /mouse turns mouse reports on and off; its hint, cut on a narrow screen, says so with "…"
$T resize-window -t msg -x 40 -y 20
$T send-keys -t msg "/mouse on" Enter
wait_for msg "^ Mouse on: the wheel scrolls; .*…$" 10; ok $? "a hint too wide for the screen ends in …"
$T resize-window -t msg -x 80 -y 24
is "$($T display-message -p -t msg '#{mouse_any_flag}')" "1" "/mouse on asks the terminal for mouse reports"
$T send-keys -t msg "/mouse off" Enter
wait_for msg "Mouse off" 10
is "$($T display-message -p -t msg '#{mouse_any_flag}')" "0" "/mouse off gives the mouse back"
$T send-keys -t msg C-d
wait_file "$TMP/msg.exit" 30
grep -q "Sanitizer" "$TMP/msg.err"; ok $((1 - $?)) "no sanitizer report"

# a failing clipboard program is an error, not "Copied"
EXTRA_ENV="PATH=$TMP/failbin:$PATH DISPLAY=:99" start fail
wait_for fail "ctx 0/" 60
$T send-keys -t fail "Who are you?" Enter
wait_for fail "^> Who are you\?" 10 && wait_idle fail
$T send-keys -t fail "/copy" Enter
wait_for fail "/copy: nothing copied: xclip failed \(exit status 1\)" 10; ok $? "a failing xclip is reported with its exit status"
screen fail | grep -q "Copied"; ok $((1 - $?)) "... and nothing claims the copy"
$T send-keys -t fail C-u C-d

# a clipboard program that hangs is stopped, and the interface goes on
EXTRA_ENV="PATH=$TMP/hangbin:$PATH DISPLAY=:99" start hang
wait_for hang "ctx 0/" 60
$T send-keys -t hang "Who are you?" Enter
wait_for hang "^> Who are you\?" 10 && wait_idle hang
$T send-keys -t hang "/copy" Enter
wait_for hang "xclip did not finish within 2 s, and was stopped" 10; ok $? "a hanging xclip is stopped after 2 s"
$T send-keys -t hang C-u "/stats" Enter
wait_for hang "Last answer:" 10; ok $? "the interface answers keys again"
$T send-keys -t hang C-d

# a notice while an answer streams goes below it, and the answer stays whole in its own entry
DELAY=60 start during
wait_for during "ctx 0/" 60
$T send-keys -t during "Tell me about Ada." Enter
wait_for during "^Ada is" 20
$T send-keys -t during "/stats" Enter
wait_for during "^No answer yet" 10; ok $? "a notice shows while the answer streams"
wait_idle during
order=$(screen during | grep -nE "^No answer yet|^> Tell me about Ada|^Ada is" | cut -d: -f2 | cut -c1-6 | tr '\n' '|')
is "$order" "> Tell|Ada is|No ans|" "... below the question and its answer, which goes on above it"
python3 -c 'import glob, json, os, sys
f = max(glob.glob(sys.argv[1] + "/llmchat/history/*.json"), key=os.path.getmtime)
m = json.load(open(f))["messages"][-1]["content"]
sys.exit(0 if m.startswith("Ada is") and "No answer yet" not in m else 1)' "$XDG_STATE_HOME"
ok $? "the answer in the history is whole"
$T send-keys -t during C-d

# no clipboard program for the display: OSC 52, and it says that may not work
mkdir -p "$TMP/config/llmchat"
printf 'mouse = on\n' >"$TMP/config/llmchat/config"
EXTRA_ENV="DISPLAY= WAYLAND_DISPLAY=" start osc
wait_for osc "ctx 0/" 60
is "$($T display-message -p -t osc '#{mouse_any_flag}')" "1" "mouse = on in the config file turns mouse reports on"
$T send-keys -t osc "Who are you?" Enter
wait_for osc "^> Who are you\?" 10 && wait_idle osc
$T send-keys -t osc "/copy" Enter
wait_for osc "through the terminal \(OSC 52\); not every" 10; ok $? "without a clipboard program /copy says it used OSC 52, which may not work"
$T send-keys -t osc C-d

done_testing
