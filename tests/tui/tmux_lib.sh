# tests/tui/tmux_lib.sh - drives llmchat through tmux for the interface tests.  Source it
# after tests/lib.sh; it skips the test when tmux or the test model is missing.
#   start NAME [FLAG...]  llmchat -m $MODEL --temp 0 --ctx 1024 FLAG... in a new 80x24
#                         session NAME; pid in $TMP/NAME.pid, stderr in NAME.err, exit
#                         status ("EXIT=N") in NAME.exit.  DELAY=ms slows each piece of
#                         an answer; EXTRA_ENV="VAR=value ..." adds to its environment.
#   screen NAME           the visible text
#   wait_for NAME RE [S]  polls the screen until it matches grep -E RE (S seconds, 30)
#   wait_idle NAME        until no answer is under way
#   wait_file FILE [S]    until FILE is not empty
#   newest_history        the newest file in the history folder
MODEL=${LLMCHAT_TEST_MODEL:-$SRCDIR/tests/data/models/tiny-bf16}
if ! command -v tmux >/dev/null 2>&1; then echo "1..0 # SKIP tmux is not installed"; exit 0; fi
if [ ! -d "$MODEL" ]; then echo "1..0 # SKIP no test model at $MODEL"; exit 0; fi

T="tmux -L llmchat-test-$$ -f /dev/null"
trap '$T kill-server 2>/dev/null; rm -rf "$TMP"' EXIT
export XDG_CONFIG_HOME="$TMP/config" XDG_STATE_HOME="$TMP/state"

# the terminal type inside the panes: tmux's own where terminfo has it
TERM_INSIDE=screen-256color
infocmp tmux-256color >/dev/null 2>&1 && TERM_INSIDE=tmux-256color

# start NAME [FLAG...]: llmchat in a new 80x24 tmux session; its pid goes to
# $TMP/NAME.pid, its stderr to NAME.err, its exit status to NAME.exit
cat >"$TMP/run.sh" <<RUN
#!/bin/sh
name=\$1; shift
sh -c 'echo \$\$ >"\$0.pid"; exec "\$@"' "$TMP/\$name" env LANG=C.UTF-8 TERM=$TERM_INSIDE \\
	"$LLMCHAT" -m "$MODEL" --temp 0 --ctx 1024 "\$@" 2>"$TMP/\$name.err"
echo "EXIT=\$?" >"$TMP/\$name.exit"
sleep 120
RUN
# DELAY (ms after each piece of an answer) slows answers enough to interrupt them.
# A session "keepalive" lives as long as the test, made by the first start (so that the
# server gets the environment the test has set up by then): killing the last session
# ends the tmux server, and a new-session racing that exit fails ("server exited
# unexpectedly"), about one time in five on tmux 3.3a.
start() {
	$T has-session -t keepalive 2>/dev/null || $T new-session -d -s keepalive "sleep 100000"
	$T new-session -d -s "$1" -x 80 -y 24 "${EXTRA_ENV:-} LLMCHAT_STREAM_DELAY_MS=${DELAY:-0} sh '$TMP/run.sh' $*"
}

screen() { $T capture-pane -p -t "$1"; }

# wait_for SESSION PATTERN [SECONDS]: polls the screen until it matches grep -E PATTERN.
wait_for() {
	i=0; limit=$(( ${3:-30} * 10 ))
	while [ $i -lt $limit ]; do
		screen "$1" | grep -Eq -- "$2" && return 0
		sleep 0.1; i=$((i + 1))
	done
	echo "# timed out waiting for /$2/ on this screen:"; screen "$1" | sed 's/^/#   /'
	return 1
}

# wait_idle SESSION: until no answer is under way.
wait_idle() {
	i=0
	while [ $i -lt 600 ]; do
		screen "$1" | grep -q "answering" || return 0
		sleep 0.1; i=$((i + 1))
	done
	return 1
}

wait_file() {
	i=0
	while [ $i -lt $(( ${2:-30} * 10 )) ]; do [ -s "$1" ] && return 0; sleep 0.1; i=$((i + 1)); done
	return 1
}

newest_history() {
	ls -t "$XDG_STATE_HOME"/llmchat/history/*.json 2>/dev/null | head -n 1
}
