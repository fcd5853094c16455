# tests/lib.sh - TAP helpers for the shell tests.  Source it, call ok/is, end with done_testing.
# LLMCHAT, SRCDIR and BUILDDIR come from the Makefile's test environment.
: "${LLMCHAT:?run through make check}"
: "${SRCDIR:?run through make check}"
tap_n=0
tap_failed=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/llmchat-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# ok STATUS NAME: records one check, passing when STATUS is 0.
ok() {
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $tap_n - $2"; else echo "not ok $tap_n - $2"; tap_failed=$((tap_failed + 1)); fi
}

# is GOT WANT NAME: passes when the two strings are equal, shows both when not.
is() {
	if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3"; printf '#   got:  %s\n#   want: %s\n' "$1" "$2"; fi
}

# like TEXT PATTERN NAME: passes when TEXT matches the grep -E PATTERN.
like() {
	if printf '%s' "$1" | grep -Eq -- "$2"; then ok 0 "$3"; else ok 1 "$3"; printf '#   got: %s\n#   want match: %s\n' "$1" "$2"; fi
}

# expect_one_line NAME PATTERN COMMAND...: exit status 1 and one line on stderr,
# "llmchat: ...PATTERN" (3 checks); standard input from $TMP/in, which the test writes.
expect_one_line() {
	name=$1 pattern=$2
	shift 2
	"$@" <"$TMP/in" >"$TMP/out" 2>"$TMP/err"
	is "$?" 1 "$name: exit status 1"
	is "$(grep -c . "$TMP/err")" 1 "$name: one line on stderr"
	like "$(cat "$TMP/err")" "^llmchat: .*$pattern" "$name: the line names the cause"
}

# expect_usage NAME PATTERN COMMAND...: a usage error, exit status 2 and one line on
# stderr, "llmchat: PATTERN..." (3 checks; end PATTERN with $ to match the whole line).
expect_usage() {
	name=$1 pattern=$2
	shift 2
	"$@" </dev/null >/dev/null 2>"$TMP/err"
	is "$?" 2 "$name: exit status 2"
	is "$(grep -c . "$TMP/err")" 1 "$name: one line on stderr"
	like "$(cat "$TMP/err")" "^llmchat: $pattern" "$name: the line names the flag and what it accepts"
}

# find_unprivileged: permissions mean nothing to root, so tests of them run as another
# user.  Sets $unprivileged to the command prefix that runs as a user they apply to: ""
# when not root, setpriv as uid 65534 when root (and $TMP is opened to that user), or
# "none" when root has no way to be another user.
find_unprivileged() {
	if [ "$(id -u)" -ne 0 ]; then
		unprivileged=""
	elif command -v setpriv >/dev/null 2>&1 && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
		unprivileged="setpriv --reuid=65534 --regid=65534 --clear-groups"
		chmod 755 "$TMP"
	else
		unprivileged=none
	fi
}

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}

# need_references FILE...: the npm reference packages (tests/npm/node_modules) and node.
# tests/run fetches them and sets LLMCHAT_REQUIRE_REFERENCES=1: there a missing one bails
# out.  Elsewhere (make distcheck, an offline package build) the whole test is skipped with
# the reason.  Call it before any check.
need_references() {
	missing=
	command -v node >/dev/null 2>&1 || missing="node is not installed"
	for file in "$@"; do
		[ -n "$missing" ] || [ -e "$file" ] || missing="${file#"$SRCDIR/"} is missing"
	done
	[ -z "$missing" ] && return 0
	if [ -n "${LLMCHAT_REQUIRE_REFERENCES:-}" ] && [ "$LLMCHAT_REQUIRE_REFERENCES" != 0 ]; then
		echo "Bail out! $missing (run npm ci in tests/npm)"
		exit 1
	fi
	echo "1..0 # SKIP no npm reference packages: $missing (tests/run fetches them)"
	exit 0
}
REFERENCES="$SRCDIR/tests/npm/node_modules"
