#!/bin/sh
# tests/cli/bad_input.sh - bad input of every kind, through the program as a user runs it:
# each gives exactly one line on stderr, starting "llmchat: " and naming the cause,
# and exit status 1 (under ASan, a crash or leak would add lines and fail the check).
. "$SRCDIR/tests/lib.sh"
unset LLMCHAT_MODEL
good="$SRCDIR/tests/data/models/tiny-bf16"

printf 'Who are you?' >"$TMP/in"
broken_copy() { rm -rf "$TMP/m" && cp -r "$good" "$TMP/m"; }

broken_copy; rm "$TMP/m/tokenizer.json"
expect_one_line "missing tokenizer" "tokenizer" "$LLMCHAT" -m "$TMP/m"

broken_copy; size=$(wc -c <"$TMP/m/model.safetensors"); truncate -s $((size / 2)) "$TMP/m/model.safetensors"
expect_one_line "truncated shard" "model.safetensors" "$LLMCHAT" -m "$TMP/m"

broken_copy; printf '\377\377\377\377\377\377\000\000' | dd of="$TMP/m/model.safetensors" conv=notrunc 2>/dev/null
expect_one_line "header length past the end of the file" "header" "$LLMCHAT" -m "$TMP/m"

broken_copy; sed -i 's/"hidden_size": 128/"hidden_size": 256/' "$TMP/m/config.json"
expect_one_line "shape contradicting config.json" "shape" "$LLMCHAT" -m "$TMP/m"

broken_copy; echo '{"architectures": ["LlamaForCausalLM"], ' >"$TMP/m/config.json"
expect_one_line "config.json that is not JSON" "config.json" "$LLMCHAT" -m "$TMP/m"

expect_one_line "a model folder that does not exist" "does not exist" "$LLMCHAT" -m "$TMP/nowhere"
expect_one_line "no model at all" "no model given" env -u LLMCHAT_MODEL HOME="$TMP" XDG_CONFIG_HOME="$TMP/config" "$LLMCHAT"

# every broken folder the loader's fixture script writes, through pipe mode
python3 "$SRCDIR/tests/fixtures/make_model.py" "$TMP/fixtures" >/dev/null
for dir in "$TMP"/fixtures/*; do
	name=$(basename "$dir")
	case $name in
	header-*|truncated-shard|offsets-outside|overlapping-tensors|wrong-dtype|unknown-dtype|shape-*|missing-*|\
	index-*|duplicate-across-shards|no-weights|pack-quantized|group-*|asymmetric-*|unknown-quant-method|per-channel-input-scale)
		expect_one_line "fixture $name" "" "$LLMCHAT" -m "$dir" ;;
	esac
done

# text that is not UTF-8 is still a message: encoded byte for byte, answered
printf 'caf\351 \377\376 <|eot_id|>' >"$TMP/in"
"$LLMCHAT" -m "$good" --temp 0 --max-tokens 8 <"$TMP/in" >"$TMP/out" 2>"$TMP/err"
is "$?" 0 "invalid UTF-8 on stdin is answered, exit 0"

# --bench on a machine without a GPU, and a config that does not exist
printf '' >"$TMP/in"
if ! command -v nvidia-smi >/dev/null 2>&1; then
	expect_one_line "--bench without a GPU" "(CUDA|GPU)" "$LLMCHAT" --bench --dummy-weights "$SRCDIR/tests/data/configs/llama-3.1-8b-fp8"
fi
# a CPU-only build refuses --bench itself before it reads the config
if grep -q '^#define HAVE_CUDA 1' "$BUILDDIR/config.h"; then
	expect_one_line "--dummy-weights naming nothing" "no such config" "$LLMCHAT" --bench --dummy-weights "$TMP/nowhere"
else
	expect_one_line "--bench in a build without CUDA" "built without CUDA" "$LLMCHAT" --bench --dummy-weights "$TMP/nowhere"
fi

# an over-long flag value and an unknown flag are usage errors (exit 2)
"$LLMCHAT" --ctx 4k >/dev/null 2>"$TMP/err"
is "$?" 2 "--ctx 4k is a usage error"
like "$(cat "$TMP/err")" '^llmchat: --ctx: expected an integer' "--ctx 4k names the flag"
"$LLMCHAT" --frobnicate >/dev/null 2>"$TMP/err"
is "$?" 2 "an unknown flag is a usage error"

# --resume is the interface's: pipe mode says so rather than ignore it
expect_usage "--resume in pipe mode" "--resume goes on with a conversation in the interactive interface; pipe mode .* answers one message\$" \
	"$LLMCHAT" -m "$good" --resume

# the tensor-parallel flags: a bad value is a usage error of one line naming the flag
expect_usage "--gpus 0" "--gpus: expected an integer from 1 to 64" "$LLMCHAT" -m "$good" --gpus 0
expect_usage "--tp two" "--tp: expected an integer" "$LLMCHAT" -m "$good" --tp two
expect_usage "--comm carrier-pigeon" "--comm: expected one of auto, nccl, p2p, one-gpu, got 'carrier-pigeon'" \
	"$LLMCHAT" -m "$good" --comm carrier-pigeon
expect_usage "--kv-cache fp16" "--kv-cache: expected one of bf16, fp8, f32, got 'fp16'" "$LLMCHAT" -m "$good" --kv-cache fp16

# a rank count that cannot split the model names the ones that can
printf 'Who are you?' >"$TMP/in"
expect_one_line "--gpus 3 on a model of 4 heads" "--gpus 3 cannot split this model \(4 attention heads, 2 KV heads\): use 1, 2 or 4" \
	"$LLMCHAT" -m "$good" --cpu --gpus 3 --temp 0 --max-tokens 4
# a rank that fails (engine.c's test hook) stops every rank: one line, exit 1, no hang
expect_one_line "rank 1 of 2 failing its creation" "rank 1: failed on purpose" \
	env LLMCHAT_TEST_FAIL_RANK=1 timeout 120 "$LLMCHAT" -m "$good" --cpu --tp 2 --temp 0 --max-tokens 4
# the test hooks are read with the options: a bad value is a usage error naming the variable
expect_usage "LLMCHAT_TEST_FAIL_RANK=one" "\\\$LLMCHAT_TEST_FAIL_RANK: expected a rank from 0 to 63, or RANK:forward, got 'one'\$" \
	env LLMCHAT_TEST_FAIL_RANK=one "$LLMCHAT" -m "$good" --cpu
expect_usage "LLMCHAT_TEST_FAIL_RANK=1:backward" "\\\$LLMCHAT_TEST_FAIL_RANK: expected a rank .*got '1:backward'\$" \
	env LLMCHAT_TEST_FAIL_RANK=1:backward "$LLMCHAT" -m "$good" --cpu
expect_usage "LLMCHAT_CUDA_GRAPH=off" "\\\$LLMCHAT_CUDA_GRAPH: expected 0 or 1, got 'off'\$" \
	env LLMCHAT_CUDA_GRAPH=off "$LLMCHAT" -m "$good" --cpu
expect_usage "LLMCHAT_DECODE_SEGMENTS=on" "\\\$LLMCHAT_DECODE_SEGMENTS: expected 0 or 1, got 'on'\$" \
	env LLMCHAT_DECODE_SEGMENTS=on "$LLMCHAT" -m "$good" --cpu
expect_usage "LLMCHAT_LAST_BLOCK=fused" "\\\$LLMCHAT_LAST_BLOCK: expected 0 or 1, got 'fused'\$" \
	env LLMCHAT_LAST_BLOCK=fused "$LLMCHAT" -m "$good" --cpu
expect_usage "LLMCHAT_GEMV_PRODUCTS=tensor-e4m3" "\\\$LLMCHAT_GEMV_PRODUCTS: expected default, cuda-cores, tensor or tensor-f16, got 'tensor-e4m3'\$" \
	env LLMCHAT_GEMV_PRODUCTS=tensor-e4m3 "$LLMCHAT" -m "$good" --cpu
expect_usage "LLMCHAT_BENCH_PROFILE=steps" "\\\$LLMCHAT_BENCH_PROFILE: expected decode, verify or prefill, got 'steps'\$" \
	env LLMCHAT_BENCH_PROFILE=steps "$LLMCHAT" -m "$good" --cpu
expect_usage "LLMCHAT_GPU_SAMPLING=no" "\\\$LLMCHAT_GPU_SAMPLING: expected 0 or 1, got 'no'\$" \
	env LLMCHAT_GPU_SAMPLING=no "$LLMCHAT" -m "$good" --cpu
# (after the status line "llmchat: MODEL ... on CPU (1 thread) x 4 ranks, context N tokens")
env LLMCHAT_TEST_FAIL_RANK=3:forward timeout 120 "$LLMCHAT" -m "$good" --cpu --gpus 4 --temp 0 --max-tokens 4 \
	<"$TMP/in" >"$TMP/out" 2>"$TMP/err"
is "$?" 1 "rank 3 of 4 failing in its first forward: exit status 1"
like "$(sed -n 1p "$TMP/err")" "x 4 ranks, context [0-9]+ tokens\$" "rank 3 of 4 failing in its first forward: the status line first"
is "$(sed 1d "$TMP/err")" "llmchat: rank 3: failed on purpose (LLMCHAT_TEST_FAIL_RANK)" \
	"rank 3 of 4 failing in its first forward: then one line, rank 3's"
done_testing
