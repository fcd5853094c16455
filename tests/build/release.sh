#!/bin/sh
# release.sh - what a packager and a new user meet first.
#
# The licence is MIT, in COPYING, and named where a user looks: README.md, --version and
# the man page.  The man page is clean under `mandoc -Tlint -W warning` (skipped, saying so,
# where mandoc is not installed), has a date mandoc parses, a SEE ALSO, and writes every
# hyphen of a flag, path or repo id as \- so that it pastes as typed.  README.md's set-up
# section holds the two commands CI runs (tests/build/readme_commands.sh): the first installs
# every tool the tests use, runs apt-get as root or through sudo, and builds out of the
# source tree (tests/run configures build-check/ out of tree, which an in-tree configure
# forbids); the second is tests/run.
. "$SRCDIR/tests/lib.sh"
page="$SRCDIR/man/llmchat.1"

# ---- the licence
[ "$(head -n 1 "$SRCDIR/COPYING")" = "MIT License" ] && grep -qx 'Copyright (c) 2026 the llmchat developers' "$SRCDIR/COPYING" &&
	grep -q '^THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' "$SRCDIR/COPYING"
ok $? "COPYING is the MIT License, copyright 2026 the llmchat developers"
version=$("$LLMCHAT" --version)
status=$?
is "$status" 0 "--version exits 0"
is "$(printf '%s\n' "$version" | head -n 1)" "llmchat $(sed -n 's/^AC_INIT(\[llmchat\], \[\([^]]*\)\].*/\1/p' "$SRCDIR/configure.ac")" \
	"--version's first line is the name and configure.ac's version"
like "$version" "Copyright \(c\) 2026 the llmchat developers" "--version names the copyright holders"
like "$version" "MIT License" "--version names the licence"
grep -q '^## Licence' "$SRCDIR/README.md" && grep -q 'MIT: see `COPYING`' "$SRCDIR/README.md"
ok $? "README.md names the licence"
sed -n '/^\.SH COPYRIGHT/,/^\.SH/p' "$page" | grep -q 'MIT License'
ok $? "the man page's COPYRIGHT names the licence"

# ---- the man page
grep -q '^\.SH SEE ALSO' "$page"
ok $? "the man page has a SEE ALSO section"
th_date=$(sed -n 's/^\.TH [^ ]* [0-9] \([0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]\) .*/\1/p' "$page")
[ -n "$th_date" ] && date -d "$th_date" >/dev/null 2>&1
ok $? ".TH carries an ISO date (YYYY-MM-DD): '${th_date:-none}'"
# every word holding a / (a path, a repo id) or starting with - (a flag), outside comments
bare=$(grep -v '^\.\\"' "$page" | tr ' \t' '\n\n' | grep -e '/' -e '^-' | grep -e '^-' -e '[^\\]-' | head -n 5)
is "$bare" "" "flags, paths and repo ids write their hyphens as \\- (they paste as typed)"
if command -v mandoc >/dev/null 2>&1; then
	lint=$(mandoc -Tlint -W warning "$page" 2>&1)
	is "$lint" "" "mandoc -Tlint -W warning: no warnings"
	mandoc -Tascii "$page" 2>/dev/null | col -b 2>/dev/null | grep -q 'neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8'
	ok $? "the rendered page shows the repo id as it is typed"
else
	tap_n=$((tap_n + 1))
	echo "ok $tap_n # SKIP mandoc is not installed (apt-get install mandoc): no lint of the man page"
fi

# ---- the README's set-up commands
commands=$(sh "$SRCDIR/tests/build/readme_commands.sh" "$SRCDIR/README.md")
is "$(printf '%s\n' "$commands" | grep -c .)" 2 "README.md's set-up section holds two commands"
first=$(printf '%s\n' "$commands" | head -n 1)
second=$(printf '%s\n' "$commands" | sed -n 2p)
is "$second" "tests/run" "the second is tests/run"
for package in build-essential autoconf automake pkg-config libncurses-dev libutf8proc-dev libjansson-dev python3 nodejs tmux; do
	like "$first" "apt-get install -y ([^&]* )?$package( |\$)" "the first installs $package"
done
like "$first" "command -v npm >/dev/null \|\| \\\$SUDO apt-get install -y npm" "... and npm where nodejs does not bring it"
like "$first" '^SUDO=\$\(\[ "\$\(id -u\)" = 0 \] \|\| echo sudo\); \$SUDO apt-get update && \$SUDO apt-get install' \
	"it runs apt-get directly as root (no sudo there) and through sudo otherwise, after apt-get update"
like "$first" '\(cd build && \.\./configure && make' "it configures out of tree, in build/"
case $first in *" ./configure"*) ok 1 "it never configures in the source tree" ;; *) ok 0 "it never configures in the source tree" ;; esac
like "$first" 'build/src/llmchat -m tests/data/models/tiny-bf16$' "it ends by running the program it built on the tiny model"
if [ -f "$SRCDIR/.ci/run" ]; then
	grep -q 'tests/build/readme_commands.sh README.md' "$SRCDIR/.ci/run" && grep -q 'distcheck DISTCHECK_CONFIGURE_FLAGS=--without-cuda' "$SRCDIR/.ci/run"
	ok $? ".ci/run runs the README's commands (taken from README.md) and make distcheck"
else
	tap_n=$((tap_n + 1))
	echo "ok $tap_n # SKIP no .ci/run here (a release tarball)"
fi

# the first command's package list, run through sh with apt-get and sudo stubbed: as root
# it calls apt-get itself; as a user, through sudo
mkdir -p "$TMP/bin"
for tool in apt-get sudo id; do
	printf '#!/bin/sh\necho "%s $*" >>"$TMP/calls"\n' "$tool" >"$TMP/bin/$tool"
done
printf '#!/bin/sh\necho "${FAKE_UID:-0}"\n' >"$TMP/bin/id"
printf '#!/bin/sh\necho "sudo $*" >>"$TMP/calls"; exec "$@"\n' >"$TMP/bin/sudo"
chmod +x "$TMP/bin/"*
setup=${first%%&& autoreconf*}
(cd "$TMP" && FAKE_UID=0 TMP="$TMP" PATH="$TMP/bin:$PATH" sh -c "$setup") >/dev/null 2>&1
is "$(sed -n 1p "$TMP/calls" 2>/dev/null)" "apt-get update" "as root: apt-get update, without sudo"
grep -q '^sudo' "$TMP/calls"
[ $? -ne 0 ]
ok $? "as root: sudo is never called"
rm -f "$TMP/calls"
(cd "$TMP" && FAKE_UID=1000 TMP="$TMP" PATH="$TMP/bin:$PATH" sh -c "$setup") >/dev/null 2>&1
is "$(sed -n 1p "$TMP/calls" 2>/dev/null)" "sudo apt-get update" "as a user: sudo apt-get update"
done_testing
