#!/bin/sh
# tests/cli/pipe_signals.sh - SIGINT, SIGTERM and SIGHUP end pipe mode's answer cleanly:
# the text so far, a final newline, nothing on stderr but the load line, and the
# status 128 + the signal (130, 143, 129), exited rather than killed.  A signal the
# caller ignores (nohup) stays ignored.  LLMCHAT_STREAM_DELAY_MS slows the answer
# so that the signal lands in the middle of it.
. "$SRCDIR/tests/lib.sh"
MODEL=$SRCDIR/tests/data/models/tiny-bf16
if [ ! -d "$MODEL" ]; then echo "1..0 # SKIP no test model at $MODEL"; exit 0; fi
if ! command -v python3 >/dev/null 2>&1; then echo "1..0 # SKIP no python3 to start llmchat with default signals"; exit 0; fi

echo "Tell me about Ada." >"$TMP/question"
echo "Tell me about Ada." | "$LLMCHAT" -m "$MODEL" --temp 0 --max-tokens 30 >"$TMP/full" 2>/dev/null

# start NAME [IGNORED]: pipe mode in the background, with the stop signals at their
# defaults (a shell's background job ignores SIGINT) except IGNORED, which is
# ignored as nohup ignores SIGHUP; its pid goes to NAME.pid, its end to NAME.status
# ("exited N" or "killed by SIGNAME").
start() {
	LLMCHAT_STREAM_DELAY_MS=150 IGNORED=${2:-} python3 - "$TMP/$1" "$LLMCHAT" -m "$MODEL" --temp 0 --max-tokens 30 <<'PY' &
import os, signal, subprocess, sys
base = sys.argv[1]
def dispositions():
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), signal.SIG_IGN if name == os.environ["IGNORED"] else signal.SIG_DFL)
with open(os.environ["TMP"] + "/question", "rb") as stdin, open(base + ".out", "wb") as out, \
        open(base + ".err", "wb") as err:
    p = subprocess.Popen(sys.argv[2:], stdin=stdin, stdout=out, stderr=err, preexec_fn=dispositions)
    with open(base + ".pid.tmp", "w") as f:
        f.write(str(p.pid))
    os.rename(base + ".pid.tmp", base + ".pid")
    rc = p.wait()
with open(base + ".status.tmp", "w") as f:
    f.write("killed by %s" % signal.Signals(-rc).name if rc < 0 else "exited %d" % rc)
os.rename(base + ".status.tmp", base + ".status")
PY
}

# wait_file FILE [SECONDS]: until FILE exists and is not empty
wait_file() {
	i=0
	while [ $i -lt $(( ${2:-60} * 10 )) ]; do [ -s "$1" ] && return 0; sleep 0.1; i=$((i + 1)); done
	return 1
}
export TMP

for signal in INT TERM HUP; do
	case $signal in INT) want=130 ;; TERM) want=143 ;; HUP) want=129 ;; esac
	start "$signal"
	wait_file "$TMP/$signal.pid" && wait_file "$TMP/$signal.out"; ok $? "SIG$signal: the answer is under way"
	kill -s "$signal" "$(cat "$TMP/$signal.pid")"
	wait_file "$TMP/$signal.status" 30
	is "$(cat "$TMP/$signal.status" 2>/dev/null)" "exited $want" "SIG$signal: pipe mode exits with status $want"
	is "$(tail -c 1 "$TMP/$signal.out" | od -An -c | tr -d ' ')" '\n' "SIG$signal: the text so far ends with a newline"
	got=$(cat "$TMP/$signal.out")
	full=$(cat "$TMP/full")
	case $full in
	"$got"?*) ok 0 "SIG$signal: the text so far is the start of the answer, cut short" ;;
	*) ok 1 "SIG$signal: the text so far is the start of the answer, cut short"
	   printf '#   got:  %s\n#   full: %s\n' "$got" "$full" ;;
	esac
	is "$(grep -v ' layers) on ' "$TMP/$signal.err")" "" "SIG$signal: nothing on stderr but the load line"
done

# a SIGHUP the caller ignores (nohup) stays ignored: the answer completes
start nohup SIGHUP
wait_file "$TMP/nohup.pid" && wait_file "$TMP/nohup.out"
kill -s HUP "$(cat "$TMP/nohup.pid")"
wait_file "$TMP/nohup.status" 60
is "$(cat "$TMP/nohup.status" 2>/dev/null)" "exited 0" "an ignored SIGHUP stays ignored: status 0"
cmp -s "$TMP/nohup.out" "$TMP/full"; ok $? "... and the whole answer is there"
wait
done_testing
