#!/bin/sh
# model_messages.sh - what the program says when -m does not lead to a readable model
# folder, and that ORG/NAME@REVISION reaches a real model through a cache laid out as
# `hf download` leaves it.  Each failure is one line on stderr naming the real cause:
# a file is a file, a permission error says permission (not "no tokenizer.json").
. "$SRCDIR/tests/lib.sh"
unset LLMCHAT_MODEL HF_HUB_CACHE HUGGINGFACE_HUB_CACHE HF_HOME XDG_CACHE_HOME
good="$SRCDIR/tests/data/models/tiny-bf16"
printf 'Who are you?' >"$TMP/in"


skip() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $1 # SKIP $2"
}

expect_one_line "-m FILE" "config.json' is a file, not a model folder" "$LLMCHAT" -m "$good/config.json"
expect_one_line "-m FILE (--print-prompt)" "is a file, not a model folder" "$LLMCHAT" --print-prompt -m "$good/model.safetensors"

# A cache under XDG_CACHE_HOME: refs/main, snapshots/<commit>/ of symlinks into blobs/.
repo="$TMP/xdg/huggingface/hub/models--llmchat-tests--tiny-bf16"
commit=8f3e2c1b0a9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b
mkdir -p "$repo/blobs" "$repo/refs" "$repo/snapshots/$commit"
printf '%s' "$commit" >"$repo/refs/main"
for file in "$good"/*; do
	blob=$(sha256sum "$file" | cut -d' ' -f1)
	cp "$file" "$repo/blobs/$blob"
	ln -s "../../blobs/$blob" "$repo/snapshots/$commit/$(basename "$file")"
done
XDG_CACHE_HOME="$TMP/xdg" "$LLMCHAT" --print-prompt -m "llmchat-tests/tiny-bf16@$commit" <"$TMP/in" >"$TMP/out" 2>"$TMP/err"
ok $? "ORG/NAME@COMMIT from a cache under XDG_CACHE_HOME opens"
like "$(cat "$TMP/out")" "Who are you\?" "and the prompt is built from its files"
expect_one_line "an unknown revision" "revision v9 is neither a ref nor a snapshot.*hf download llmchat-tests/tiny-bf16 --revision v9" \
	env XDG_CACHE_HOME="$TMP/xdg" "$LLMCHAT" -m llmchat-tests/tiny-bf16@v9

# permissions mean nothing to root (tests/lib.sh)
find_unprivileged
if [ "$unprivileged" = none ]; then
	for name in "an unreadable model folder" "an unreadable tokenizer.json"; do
		skip "$name says permission" "running as root without setpriv"
	done
else
	cp -r "$good" "$TMP/m" && chmod -R a+rX "$TMP/m" && chmod 000 "$TMP/m"
	# HOME inside $TMP: nobody cannot read root's settings, which would add a line
	expect_one_line "an unreadable model folder" "m': Permission denied" \
		$unprivileged env HOME="$TMP" XDG_CONFIG_HOME="$TMP/config" "$LLMCHAT" -m "$TMP/m"
	chmod 755 "$TMP/m" && chmod 000 "$TMP/m/tokenizer.json"
	expect_one_line "an unreadable tokenizer.json" "tokenizer.json: Permission denied" \
		$unprivileged env HOME="$TMP" XDG_CONFIG_HOME="$TMP/config" "$LLMCHAT" -m "$TMP/m"
fi

done_testing
