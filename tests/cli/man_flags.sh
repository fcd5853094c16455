#!/bin/sh
# man_flags.sh - every long option in src/options.c's table is documented in
# man/llmchat.1 and listed by --help.
. "$SRCDIR/tests/lib.sh"

flags=$(sed -n '/long_options\[\] = {/,/^};/p' "$SRCDIR/src/options.c" | sed -n 's/^[[:space:]]*{"\([a-z0-9-]*\)",.*/\1/p')
count=$(printf '%s\n' "$flags" | grep -c .)
ok $([ "$count" -ge 20 ] && echo 0 || echo 1) "the option table was read ($count long options)"

help=$("$LLMCHAT" --help 2>&1)
for flag in $flags; do
	# roff spells a hyphen \- : --no-tui is \-\-no\-tui in the page
	roff=$(printf '%s' "--$flag" | sed 's/-/\\-/g')
	if grep -qF -- "$roff" "$SRCDIR/man/llmchat.1"; then ok 0 "--$flag is in the man page"; else ok 1 "--$flag is in the man page"; fi
	like "$help" "--$flag([^a-z-]|\$)" "--$flag is in --help"
done

# and the page names the files and variables the program reads
for word in LLMCHAT_MODEL NO_COLOR XDG_CONFIG_HOME XDG_STATE_HOME HF_HOME HF_HUB_CACHE CUDA_VISIBLE_DEVICES; do
	if grep -qF "$word" "$SRCDIR/man/llmchat.1"; then ok 0 "man page: $word"; else ok 1 "man page: $word"; fi
done
done_testing
