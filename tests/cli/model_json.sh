#!/bin/sh
# tests/cli/model_json.sh - a model folder's JSON files through the program, as a user meets them:
# Meta's Llama 3.0 tokenizer_config.json (model_max_length past 64 bits), templates that are
# not Llama 3's, generation_config.json's defaults, a folder without bos_token_id, and files
# that cannot be read.  Folders are copies of tests/data/models/tiny-bf16 with one file
# rewritten the way real folders write it (tests/fixtures/make_tokenizer_config.py).
. "$SRCDIR/tests/lib.sh"
unset LLMCHAT_MODEL
good="$SRCDIR/tests/data/models/tiny-bf16"
templates="$SRCDIR/tests/data/chat_templates"
make_config="$SRCDIR/tests/fixtures/make_tokenizer_config.py"
H() { printf '<|start_header_id|>%s<|end_header_id|>\n\n' "$1"; }
copy() { rm -rf "$TMP/m" && cp -r "$good" "$TMP/m"; }
# json FILE PYTHON: rewrites FILE's JSON object d with the statement PYTHON
json() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[2])
json.dump(d, open(sys.argv[1], "w"), indent=2)' "$1" "$2"
}
# run NAME ARGS...: stdin from $TMP/in, out/err/status kept; a hang fails after 60 s
run() {
	timeout 60 "$LLMCHAT" "$@" <"$TMP/in" >"$TMP/out" 2>"$TMP/err"
	status=$?
}
# expect_error NAME PATTERN ARGS...: exit 1, one line on stderr matching PATTERN
expect_error() {
	name=$1 pattern=$2
	shift 2
	run "$@"
	is "$status" 1 "$name: exit status 1"
	is "$(grep -c . "$TMP/err")" 1 "$name: one line on stderr"
	like "$(cat "$TMP/err")" "^llmchat: .*$pattern" "$name: the line names the cause"
}

# print_prompt_of DIR MAKE_CONFIG_ARGS...: DIR gets a tokenizer_config.json written with
# those arguments, --print-prompt runs on it, and the status is whether it printed the
# Llama 3.1 form ($TMP/want31)
print_prompt_of() {
	dir=$1
	shift
	mkdir -p "$dir" && python3 "$make_config" "$dir/tokenizer_config.json" "$@"
	run -m "$dir" --print-prompt
	cmp -s "$TMP/out" "$TMP/want31"
}

# ---- chat templates: THE bug, Meta's Llama 3.0 tokenizer_config.json --------------------
printf 'Hi' >"$TMP/in"
mkdir -p "$TMP/l3"
python3 "$make_config" "$TMP/l3/tokenizer_config.json" --template "$templates/llama-3-instruct.jinja"
{ printf '<|begin_of_text|>'; H user; printf 'Hi<|eot_id|>'; H assistant; } >"$TMP/want"
run -m "$TMP/l3" --print-prompt
ok $(( status != 0 )) "Llama 3.0 tokenizer_config.json (model_max_length 1e30): --print-prompt exits 0"
cmp -s "$TMP/out" "$TMP/want"
ok $? "Llama 3.0 tokenizer_config.json: the Llama 3 form, not 3.1"
is "$(cat "$TMP/err")" "" "Llama 3.0 tokenizer_config.json: nothing on stderr"

system31() { printf '<|begin_of_text|>'; H system; printf 'Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>'; }
{ system31; H user; printf 'Hi<|eot_id|>'; H assistant; } >"$TMP/want31"
print_prompt_of "$TMP/chatml" --chatml
ok $? "ChatML template: the Llama 3.1 form is printed"
is "$(cat "$TMP/err")" "llmchat: $TMP/chatml/tokenizer_config.json: chat_template is not a Llama 3 template (ChatML?); rendering the Llama 3.1 form" \
	"ChatML template: one line says which file and what is rendered instead"

print_prompt_of "$TMP/base" --none
ok $? "no chat_template (a base model): the Llama 3.1 form is printed"
like "$(cat "$TMP/err")" "^llmchat: $TMP/base/tokenizer_config.json has no chat_template; rendering the Llama 3.1 form" \
	"no chat_template: said on stderr"

mkdir -p "$TMP/edited"
sed 's/{% set loop_messages = messages %}/{% set loop_messages = messages %}{# tuned #}/' \
	"$templates/llama-3-instruct.jinja" >"$TMP/edited/chat_template.jinja"
run -m "$TMP/edited" --print-prompt
cmp -s "$TMP/out" "$TMP/want"
ok $? "an edited Llama 3 template: its closest form, Llama 3"
like "$(cat "$TMP/err")" "chat_template.jinja is a Llama 3 template edited .*closest form, Llama 3's" \
	"an edited Llama 3 template: said on stderr"

mkdir -p "$TMP/broken"
printf '{\n  "chat_template": "<|start_header_id|>' >"$TMP/broken/tokenizer_config.json"
expect_error "broken tokenizer_config.json" "tokenizer_config.json: line 2, column [0-9]+: invalid JSON" \
	-m "$TMP/broken" --print-prompt
mkdir -p "$TMP/fifo"
mkfifo "$TMP/fifo/chat_template.jinja"
expect_error "a FIFO named chat_template.jinja" "chat_template.jinja: is a FIFO" -m "$TMP/fifo" --print-prompt

# the running program says it once, too
copy; python3 "$make_config" "$TMP/m/tokenizer_config.json" --chatml --first-special-id 2048
run -m "$TMP/m" --temp 0 --max-tokens 4
is "$status" 0 "a model with a ChatML template answers"
is "$(grep -c 'not a Llama 3 template (ChatML?)' "$TMP/err")" 1 "a model with a ChatML template: said once"
copy; python3 "$make_config" "$TMP/m/tokenizer_config.json" --template "$templates/llama-3-instruct.jinja" --first-special-id 2048
run -m "$TMP/m" --temp 0 --max-tokens 4
is "$status" 0 "a model with Meta's Llama 3.0 tokenizer_config.json answers"
is "$(grep -c 'template' "$TMP/err")" 0 "a model with Meta's Llama 3.0 tokenizer_config.json: no template notice"
copy; printf '{"chat_template": 3' >"$TMP/m/tokenizer_config.json"
expect_error "a model with a broken tokenizer_config.json" "tokenizer_config.json: line 1" -m "$TMP/m"

# ---- generation_config.json ---------------------------------------------------------------
printf 'Who are you?' >"$TMP/in"
run -m "$good" --max-tokens 60 --temp 0; cp "$TMP/out" "$TMP/greedy"
run -m "$good" --max-tokens 60 --temp 2 --seed 1; cp "$TMP/out" "$TMP/sampled"
cmp -s "$TMP/greedy" "$TMP/sampled"
ok $(( $? == 0 )) "precondition: --temp 2 --seed 1 samples another answer than greedy"
copy; json "$TMP/m/generation_config.json" 'd.update(do_sample=False, temperature=2.0)'
run -m "$TMP/m" --max-tokens 60 --seed 1
cmp -s "$TMP/out" "$TMP/greedy"
ok $? "do_sample false: greedy, whatever temperature says"
run -m "$TMP/m" --max-tokens 60 --temp 2 --seed 1
cmp -s "$TMP/out" "$TMP/sampled"
ok $? "do_sample false: --temp overrides it"

run -m "$good" --max-tokens 60 --temp 0 --repeat-penalty 5; cp "$TMP/out" "$TMP/penalty"
cmp -s "$TMP/greedy" "$TMP/penalty"
ok $(( $? == 0 )) "precondition: repetition penalty 5 changes the greedy answer"
copy; json "$TMP/m/generation_config.json" 'd.update(repetition_penalty=5.0)'
run -m "$TMP/m" --max-tokens 60 --temp 0
cmp -s "$TMP/out" "$TMP/penalty"
ok $? "repetition_penalty is a default"

run -m "$good" --max-tokens 3 --temp 0; cp "$TMP/out" "$TMP/three"
copy; json "$TMP/m/generation_config.json" 'd.update(max_new_tokens=3)'
run -m "$TMP/m" --temp 0
cmp -s "$TMP/out" "$TMP/three"
ok $? "max_new_tokens is the answer's default length"
run -m "$TMP/m" --temp 0 --max-tokens 60
cmp -s "$TMP/out" "$TMP/greedy"
ok $? "max_new_tokens: --max-tokens overrides it"

# max_length counts the prompt: BOS + the text's tokens + 3 leaves 3 tokens to --raw
printf 'Tell me about' >"$TMP/in"
run -m "$good" --raw --temp 0 --max-tokens 3; cp "$TMP/out" "$TMP/raw3"
run -m "$good" --tokenize
prompt_tokens=$(( $(wc -w <"$TMP/out") + 1 ))
copy; json "$TMP/m/generation_config.json" "d.update(max_length=$prompt_tokens + 3)"
run -m "$TMP/m" --raw --temp 0
cmp -s "$TMP/out" "$TMP/raw3"
ok $? "max_length: prompt ($prompt_tokens tokens) and answer together"

printf 'Who are you?' >"$TMP/in"
copy; json "$TMP/m/generation_config.json" 'd.update(top_p=1.5)'
expect_error "top_p 1.5 in generation_config.json" "generation_config.json: top_p 1.5 is not in \(0, 1\]" -m "$TMP/m"
copy; rm "$TMP/m/generation_config.json"; mkdir "$TMP/m/generation_config.json"
expect_error "a directory named generation_config.json" "generation_config.json: is a directory" -m "$TMP/m"

# ---- BOS without bos_token_id ---------------------------------------------------------------
printf 'Tell me about' >"$TMP/in"
run -m "$good" --raw --temp 0 --max-tokens 8; cp "$TMP/out" "$TMP/raw8"
printf 'Ada keeps the lighthouse on the rock.\n' >"$TMP/text"
"$LLMCHAT" -m "$good" --perplexity "$TMP/text" </dev/null >"$TMP/ppl" 2>/dev/null
copy; json "$TMP/m/config.json" 'del d["bos_token_id"]'; json "$TMP/m/generation_config.json" 'del d["bos_token_id"]'
run -m "$TMP/m" --raw --temp 0 --max-tokens 8
is "$status" 0 "no bos_token_id: --raw runs"
cmp -s "$TMP/out" "$TMP/raw8"
ok $? "no bos_token_id: --raw puts the tokenizer's <|begin_of_text|> first"
"$LLMCHAT" -m "$TMP/m" --perplexity "$TMP/text" </dev/null >"$TMP/out" 2>/dev/null
cmp -s "$TMP/out" "$TMP/ppl"
ok $? "no bos_token_id: --perplexity as with it ($(tail -n 1 "$TMP/ppl"))"
sed -i 's/<|begin_of_text|>/<|bos_renamed|>/' "$TMP/m/tokenizer.json"
expect_error "no bos_token_id and no <|begin_of_text|>: --raw" "no BOS token: neither config.json nor generation_config.json has bos_token_id" \
	-m "$TMP/m" --raw --temp 0

# ---- tokenizer ids and files -------------------------------------------------------------------
printf 'Who are you?' >"$TMP/in"
copy; json "$TMP/m/tokenizer.json" 'd["added_tokens"][-1]["id"] = 5000'
expect_error "a special token past vocab_size" 'token "<\|reserved_special_token_250\|>" has id 5000, past config.json.s vocab_size 2304' \
	-m "$TMP/m"
copy; sed -i 's/"id": 2057,/"id": 18446744073709551617,/' "$TMP/m/tokenizer.json"
expect_error "an added_tokens id past 64 bits" 'added_tokens\[9\] "<\|eot_id\|>": id 1.8446744073709552e\+19 is not an integer' -m "$TMP/m"
copy; rm "$TMP/m/tokenizer.json"; mkfifo "$TMP/m/tokenizer.json"
expect_error "a FIFO named tokenizer.json" "tokenizer.json: is a FIFO" -m "$TMP/m"
expect_error "a FIFO given to --tokenizer" "tokenizer.json: is a FIFO" --tokenizer "$TMP/m/tokenizer.json" --tokenize

# ---- config.json numbers that would make NaN -----------------------------------------------------
copy; json "$TMP/m/config.json" 'd.update(rope_theta=1e-300)'
expect_error "rope_theta 1e-300" "rope_theta \(1e-300\) is not a number in \[1, 1e\+12\]" -m "$TMP/m"
copy; json "$TMP/m/config.json" 'd["rope_scaling"]["low_freq_factor"] = 1e-300'
expect_error "low_freq_factor 1e-300" "low_freq_factor \(1e-300\) is not a number" -m "$TMP/m"

done_testing
