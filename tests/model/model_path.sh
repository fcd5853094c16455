#!/bin/sh
# model_path.sh - -m resolves folders, and ORG/NAME[@REVISION] through the Hugging Face
# cache as huggingface_hub lays it out: $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else
# $HF_HOME/hub, where HF_HOME defaults to $XDG_CACHE_HOME/huggingface and that to
# ~/.cache/huggingface; refs/REVISION names the snapshot.  Every case runs
# tests/model/resolve_model_path in a fake cache under $TMP; messages name the real cause.
. "$SRCDIR/tests/lib.sh"
resolve="$BUILDDIR/tests/model/resolve_model_path"

# skip NAME REASON: a check that cannot run here
skip() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $1 # SKIP $2"
}

# fake_cache HUB REPO_DIR_NAME REVISION: a snapshot folder and refs/main pointing at it
fake_cache() {
	mkdir -p "$1/$2/snapshots/$3" "$1/$2/refs" "$1/$2/blobs"
	printf '%s' "$3" >"$1/$2/refs/main"
	echo '{}' >"$1/$2/blobs/0123"
	ln -sf ../../blobs/0123 "$1/$2/snapshots/$3/config.json"
}

unset HF_HUB_CACHE HUGGINGFACE_HUB_CACHE HF_HOME XDG_CACHE_HOME LLMCHAT_MODEL
mkdir -p "$TMP/plain folder"
out=$("$resolve" "$TMP/plain folder"); ok $? "a folder is taken as it is"
is "$out" "$TMP/plain folder" "the folder path comes back unchanged"

fake_cache "$TMP/hubcache" models--meta-llama--Llama-3.1-8B-Instruct 0e9e39f249a16976918f6564b8830bc894c89659
out=$(HF_HUB_CACHE="$TMP/hubcache" "$resolve" meta-llama/Llama-3.1-8B-Instruct)
is "$out" "$TMP/hubcache/models--meta-llama--Llama-3.1-8B-Instruct/snapshots/0e9e39f249a16976918f6564b8830bc894c89659" \
	"HF_HUB_CACHE: ORG/NAME resolves to the snapshot refs/main names"

fake_cache "$TMP/hfhome/hub" models--neuralmagic--Meta-Llama-3.1-8B-Instruct-FP8 abc123
out=$(HF_HOME="$TMP/hfhome" "$resolve" neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8)
is "$out" "$TMP/hfhome/hub/models--neuralmagic--Meta-Llama-3.1-8B-Instruct-FP8/snapshots/abc123" \
	"HF_HOME: the cache is HF_HOME/hub"

out=$(HF_HUB_CACHE="$TMP/hubcache" HF_HOME="$TMP/hfhome" "$resolve" meta-llama/Llama-3.1-8B-Instruct)
like "$out" "^$TMP/hubcache/" "HF_HUB_CACHE wins over HF_HOME"

# the legacy name: below HF_HUB_CACHE, above HF_HOME
fake_cache "$TMP/legacy" models--meta-llama--Llama-3.1-8B-Instruct legacyrev
out=$(HUGGINGFACE_HUB_CACHE="$TMP/legacy" HF_HOME="$TMP/hfhome" "$resolve" meta-llama/Llama-3.1-8B-Instruct)
like "$out" "^$TMP/legacy/.*/snapshots/legacyrev$" "HUGGINGFACE_HUB_CACHE (legacy) is read, and wins over HF_HOME"
out=$(HF_HUB_CACHE="$TMP/hubcache" HUGGINGFACE_HUB_CACHE="$TMP/legacy" "$resolve" meta-llama/Llama-3.1-8B-Instruct)
like "$out" "^$TMP/hubcache/" "HF_HUB_CACHE wins over HUGGINGFACE_HUB_CACHE"

fake_cache "$TMP/home/.cache/huggingface/hub" models--meta-llama--Llama-3.2-1B-Instruct rev1
out=$(HOME="$TMP/home" "$resolve" meta-llama/Llama-3.2-1B-Instruct)
is "$out" "$TMP/home/.cache/huggingface/hub/models--meta-llama--Llama-3.2-1B-Instruct/snapshots/rev1" \
	"HOME fallback: ~/.cache/huggingface/hub"

printf 'rev1\n' >"$TMP/home/.cache/huggingface/hub/models--meta-llama--Llama-3.2-1B-Instruct/refs/main"
out=$(HOME="$TMP/home" "$resolve" meta-llama/Llama-3.2-1B-Instruct)
like "$out" "/snapshots/rev1$" "a trailing newline in refs/main is ignored"

out=$(HOME="$TMP/home" LLMCHAT_MODEL=meta-llama/Llama-3.2-1B-Instruct "$resolve")
like "$out" "/snapshots/rev1$" "LLMCHAT_MODEL is used when -m is absent"

# A cache as `hf download` leaves it, under XDG_CACHE_HOME: refs/main holds the commit,
# snapshots/<commit>/ holds symlinks into blobs/ (named by the files' hashes).
xdg="$TMP/xdg"
repo="$xdg/huggingface/hub/models--neuralmagic--Meta-Llama-3-8B-Instruct-FP8"
main=1d2d3de1e3b7f2ba5ac1a5d7a2d9ae0b7a7c6e11
older=5b6fd2bf6d1bd0ec6c2e1c4e1e1f4c92fc2eac43
mkdir -p "$repo/blobs" "$repo/refs" "$repo/snapshots/$main" "$repo/snapshots/$older"
printf '{"quant_method": "fp8"}\n' >"$repo/blobs/5c1f5b0e2d9e2b7c0f0b2c8d3f6a4e1d9c7b5a30"
printf '{"bos_token_id": 128000}\n' >"$repo/blobs/7d3e0a3b9c4c1a9f2e8d7b6c5a4f3e2d1c0b9a88"
printf '%s' "$main" >"$repo/refs/main"
printf '%s' "$older" >"$repo/refs/v1.0"
mkdir -p "$repo/refs/refs/pr"
printf '%s' "$older" >"$repo/refs/refs/pr/1"
for snap in "$main" "$older"; do
	ln -s ../../blobs/5c1f5b0e2d9e2b7c0f0b2c8d3f6a4e1d9c7b5a30 "$repo/snapshots/$snap/config.json"
	ln -s ../../blobs/7d3e0a3b9c4c1a9f2e8d7b6c5a4f3e2d1c0b9a88 "$repo/snapshots/$snap/generation_config.json"
done
out=$(XDG_CACHE_HOME="$xdg" HOME="$TMP/home" "$resolve" neuralmagic/Meta-Llama-3-8B-Instruct-FP8)
is "$out" "$repo/snapshots/$main" "XDG_CACHE_HOME: the cache is XDG_CACHE_HOME/huggingface/hub, before ~/.cache"
like "$(cat "$out/config.json" 2>&1)" "quant_method" "and the snapshot's symlinks reach their blobs"
out=$(XDG_CACHE_HOME="$xdg" HF_HOME="$TMP/hfhome" "$resolve" neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8)
like "$out" "^$TMP/hfhome/hub/" "HF_HOME wins over XDG_CACHE_HOME"
mkdir -p "$TMP/home/hf" && ln -s "$TMP/home/.cache/huggingface/hub" "$TMP/home/hf/hub"
out=$(HF_HOME='~/hf' HOME="$TMP/home" "$resolve" meta-llama/Llama-3.2-1B-Instruct 2>&1)
is "$out" "$TMP/home/hf/hub/models--meta-llama--Llama-3.2-1B-Instruct/snapshots/rev1" "a leading ~ is the home folder"

# ORG/NAME@REVISION: a ref name under refs/, or a commit hash under snapshots/
out=$(XDG_CACHE_HOME="$xdg" "$resolve" "neuralmagic/Meta-Llama-3-8B-Instruct-FP8@$older")
is "$out" "$repo/snapshots/$older" "@COMMIT picks that snapshot"
out=$(XDG_CACHE_HOME="$xdg" "$resolve" neuralmagic/Meta-Llama-3-8B-Instruct-FP8@v1.0)
is "$out" "$repo/snapshots/$older" "@TAG reads refs/TAG"
out=$(XDG_CACHE_HOME="$xdg" "$resolve" neuralmagic/Meta-Llama-3-8B-Instruct-FP8@refs/pr/1)
is "$out" "$repo/snapshots/$older" "@refs/pr/1 reads refs/refs/pr/1, as huggingface_hub stores it"
out=$(XDG_CACHE_HOME="$xdg" "$resolve" neuralmagic/Meta-Llama-3-8B-Instruct-FP8@main)
is "$out" "$repo/snapshots/$main" "@main is the default made explicit"
err=$(XDG_CACHE_HOME="$xdg" "$resolve" neuralmagic/Meta-Llama-3-8B-Instruct-FP8@v2.0 2>&1); status=$?
is "$status" 1 "an unknown revision fails"
like "$err" "revision v2.0 is neither a ref nor a snapshot.*hf download neuralmagic/Meta-Llama-3-8B-Instruct-FP8 --revision v2.0" \
	"and says how to download that revision"
err=$(XDG_CACHE_HOME="$xdg" "$resolve" "neuralmagic/Meta-Llama-3-8B-Instruct-FP8@../../../etc" 2>&1); status=$?
is "$status" 1 "a revision with .. is refused"

err=$(HF_HUB_CACHE="$TMP/hubcache" "$resolve" meta-llama/Llama-3.3-70B-Instruct 2>&1); status=$?
is "$status" 1 "a repo not in the cache fails"
like "$err" "download it with: hf download meta-llama/Llama-3.3-70B-Instruct$" "and names today's hf download"

mkdir -p "$TMP/hubcache/models--org--norefs/snapshots/x"
err=$(HF_HUB_CACHE="$TMP/hubcache" "$resolve" org/norefs 2>&1); status=$?
is "$status" 1 "a repo without refs/main fails"
like "$err" "no refs/main" "and names refs/main"

fake_cache "$TMP/hubcache" models--org--gone rev9
rm -rf "$TMP/hubcache/models--org--gone/snapshots/rev9"
err=$(HF_HUB_CACHE="$TMP/hubcache" "$resolve" org/gone 2>&1); status=$?
is "$status" 1 "a missing snapshot fails"
like "$err" "snapshot rev9 \(refs/main\) is missing" "and names the revision"

fake_cache "$TMP/hubcache" models--org--evil rev0
printf '../../../etc' >"$TMP/hubcache/models--org--evil/refs/main"
err=$(HF_HUB_CACHE="$TMP/hubcache" "$resolve" org/evil 2>&1); status=$?
is "$status" 1 "a refs/main holding a path is refused"

: >"$TMP/hubcache/models--org--evil/refs/main"
err=$(HF_HUB_CACHE="$TMP/hubcache" "$resolve" org/evil 2>&1); status=$?
is "$status" 1 "an empty refs/main is refused"
like "$err" "does not hold a revision" "and says so"

fake_cache "$TMP/hubcache" models--org--refdir rev0
rm "$TMP/hubcache/models--org--refdir/refs/main" && mkdir "$TMP/hubcache/models--org--refdir/refs/main"
err=$(HF_HUB_CACHE="$TMP/hubcache" "$resolve" org/refdir 2>&1); status=$?
is "$status" 1 "a refs/main that is a directory is refused"
like "$err" "refs/main: is a directory" "and says it is a directory"

err=$("$resolve" ../a/b 2>&1); status=$?
is "$status" 1 "a path with .. is not a repo id"
like "$err" "does not exist" "and is reported as a missing folder"

err=$(env -u LLMCHAT_MODEL "$resolve" 2>&1); status=$?
is "$status" 1 "no -m and no LLMCHAT_MODEL fails"
like "$err" "no model given.*hf download" "and says how to give one"

# what the path really is
echo '{}' >"$TMP/plain folder/config.json"
err=$("$resolve" "$TMP/plain folder/config.json" 2>&1); status=$?
is "$status" 1 "-m FILE fails"
like "$err" "config.json' is a file, not a model folder" "and says it is a file"
mkfifo "$TMP/fifo"
err=$("$resolve" "$TMP/fifo" 2>&1); status=$?
like "$err" "fifo' is a FIFO, not a model folder" "-m FIFO says it is a FIFO"
err=$("$resolve" "$TMP/plain folder/config.json/x" 2>&1); status=$?
like "$err" "Not a directory" "a path through a file says so"

# permissions mean nothing to root (tests/lib.sh)
find_unprivileged
if [ "$unprivileged" = none ]; then
	skip "an unreadable folder says permission" "running as root without setpriv"
	skip "an unreachable path says permission" "running as root without setpriv"
	skip "an unreadable cache snapshot says permission" "running as root without setpriv"
else
	mkdir -p "$TMP/locked/inner"
	chmod 000 "$TMP/locked/inner"
	err=$($unprivileged "$resolve" "$TMP/locked/inner" 2>&1)
	like "$err" "inner': Permission denied" "an unreadable folder says permission"
	chmod 000 "$TMP/locked"
	err=$($unprivileged "$resolve" "$TMP/locked/inner" 2>&1)
	like "$err" "Permission denied" "an unreachable path says permission"
	chmod 755 "$TMP/locked" "$TMP/locked/inner"
	chmod -R a+rX "$TMP/hubcache"
	chmod 000 "$TMP/hubcache/models--meta-llama--Llama-3.1-8B-Instruct/snapshots/0e9e39f249a16976918f6564b8830bc894c89659"
	err=$(HF_HUB_CACHE="$TMP/hubcache" $unprivileged "$resolve" meta-llama/Llama-3.1-8B-Instruct 2>&1)
	like "$err" "cache snapshot .*: Permission denied" "an unreadable cache snapshot says permission"
	chmod 755 "$TMP/hubcache/models--meta-llama--Llama-3.1-8B-Instruct/snapshots/0e9e39f249a16976918f6564b8830bc894c89659"
fi

done_testing
