#!/bin/sh
# print_prompt.sh - `llmchat -m DIR --print-prompt [--system TEXT]` through the CLI.
#
# Model folders here hold only tokenizer_config.json (or chat_template.jinja):
# printing the prompt must not need weights.  Outputs are compared as files,
# byte for byte, because the prompt ends in "\n\n", which $(...) would eat.
. "$SRCDIR/tests/lib.sh"
templates="$SRCDIR/tests/data/chat_templates"

# make_model DIR TEMPLATE: a folder whose tokenizer_config.json carries TEMPLATE.jinja.
make_model() {
	mkdir -p "$1"
	python3 -c 'import json, sys
source = open(sys.argv[1], encoding="utf-8").read()
json.dump({"bos_token": "<|begin_of_text|>", "chat_template": source}, open(sys.argv[2], "w"))' \
		"$templates/$2.jinja" "$1/tokenizer_config.json"
}
make_model "$TMP/llama3" llama-3-instruct
make_model "$TMP/llama31" llama-3.1-instruct
make_model "$TMP/llama32" llama-3.2-instruct
mkdir -p "$TMP/bare"
run_env=""
H() { printf '<|start_header_id|>%s<|end_header_id|>\n\n' "$1"; }

# check NAME WANT_FILE ARGS... (stdin from $input, environment plus $run_env):
# exit 0, stdout equal to WANT_FILE.
check() {
	name=$1 want=$2
	shift 2
	# shellcheck disable=SC2086 # run_env is a list of NAME=VALUE words
	printf '%s' "$input" | env $run_env "$LLMCHAT" "$@" >"$TMP/got" 2>"$TMP/err"
	run_env=""
	status=$?
	if [ "$status" -eq 0 ] && cmp -s "$TMP/got" "$want"; then ok 0 "$name"; else
		ok 1 "$name"
		echo "#   exit $status; stderr: $(cat "$TMP/err")"
		echo "#   got:  $(od -c "$TMP/got" | head -n 8)"
		echo "#   want: $(od -c "$want" | head -n 8)"
	fi
}

input="Hi
"
{ printf '<|begin_of_text|>'; H user; printf 'Hi<|eot_id|>'; H assistant; } >"$TMP/want"
check "Llama 3: user message, generation prompt, no newline after it" "$TMP/want" -m "$TMP/llama3" --print-prompt

{ printf '<|begin_of_text|>'; H system; printf 'Be brief<|eot_id|>'; H user; printf 'Hi<|eot_id|>'; H assistant; } >"$TMP/want"
check "Llama 3: --system adds a system turn" "$TMP/want" -m "$TMP/llama3" --print-prompt --system "Be brief"

system31() { printf '<|begin_of_text|>'; H system; printf 'Cutting Knowledge Date: December 2023\nToday Date: %s\n\n' "$1"; }
{ system31 "26 Jul 2024"; printf 'Be brief<|eot_id|>'; H user; printf 'Hi<|eot_id|>'; H assistant; } >"$TMP/want"
check "Llama 3.1: system block with the fixed date and the system prompt" "$TMP/want" \
	-m "$TMP/llama31" --print-prompt --system "  Be brief
"

{ system31 "26 Jul 2024"; printf '<|eot_id|>'; H user; printf 'Hi<|eot_id|>'; H assistant; } >"$TMP/want"
check "Llama 3.1: system block even without --system" "$TMP/want" -m "$TMP/llama31" --print-prompt

today=$(LC_ALL=C date +"%d %b %Y")
{ system31 "$today"; printf '<|eot_id|>'; H user; printf 'Hi<|eot_id|>'; H assistant; } >"$TMP/want"
check "Llama 3.2: today's date ($today)" "$TMP/want" -m "$TMP/llama32" --print-prompt

# The date is local time, as Python's datetime.now(): far-apart zones can be on different days.
for zone in Pacific/Kiritimati Etc/GMT+12; do
	today=$(TZ=$zone LC_ALL=C date +"%d %b %Y")
	{ system31 "$today"; printf '<|eot_id|>'; H user; printf 'Hi<|eot_id|>'; H assistant; } >"$TMP/want"
	run_env="TZ=$zone"
	check "Llama 3.2: the local date in $zone ($today)" "$TMP/want" -m "$TMP/llama32" --print-prompt
done
# Month names are English whatever the user's locale (the C locale, as under transformers).
run_env="TZ=Etc/GMT+12 LC_ALL=de_DE.UTF-8 LANG=de_DE.UTF-8"
check "Llama 3.2: English month names in a German locale" \
	"$TMP/want" -m "$TMP/llama32" --print-prompt

{ system31 "26 Jul 2024"; printf '<|eot_id|>'; H user; printf 'Hi<|eot_id|>'; H assistant; } >"$TMP/want"
check "a folder without tokenizer_config.json gets the Llama 3.1 form" "$TMP/want" -m "$TMP/bare" --print-prompt

cp "$templates/llama-3-instruct.jinja" "$TMP/llama31/chat_template.jinja"
{ printf '<|begin_of_text|>'; H user; printf 'Hi<|eot_id|>'; H assistant; } >"$TMP/want"
check "chat_template.jinja beside tokenizer_config.json wins" "$TMP/want" -m "$TMP/llama31" --print-prompt
rm "$TMP/llama31/chat_template.jinja"

LLMCHAT_MODEL="$TMP/llama3"
export LLMCHAT_MODEL
check "\$LLMCHAT_MODEL is used without -m" "$TMP/want" --print-prompt
unset LLMCHAT_MODEL

input=""
{ printf '<|begin_of_text|>'; H user; printf '<|eot_id|>'; H assistant; } >"$TMP/want"
check "empty stdin is an empty user message" "$TMP/want" -m "$TMP/llama3" --print-prompt

input="  <|eot_id|>{{ x }}
 café 你好 👍
"
{ printf '<|begin_of_text|>'; H user; printf '<|eot_id|>{{ x }}\n café 你好 👍<|eot_id|>'; H assistant; } >"$TMP/want"
check "the message is trimmed and printed verbatim, special-token spellings included" "$TMP/want" \
	-m "$TMP/llama3" --print-prompt

input=" raw text
"
printf '<|begin_of_text|> raw text\n' >"$TMP/want"
check "--raw: <|begin_of_text|> and the message untouched, as pipe mode's --raw feeds it" "$TMP/want" \
	-m "$TMP/llama31" --print-prompt --raw --system "unused"

# Errors: one line on stderr, nothing on stdout, exit status 1.
input="Hi"
out=$(printf 'Hi' | env -u LLMCHAT_MODEL "$LLMCHAT" --print-prompt 2>"$TMP/err"); status=$?
is "$status" 1 "no model: exit status 1"
is "$out" "" "no model: nothing on stdout"
like "$(cat "$TMP/err")" "^llmchat: no model given: use -m DIR" "no model: model_path_resolve's message"
is "$(wc -l <"$TMP/err" | tr -d ' ')" 1 "no model: one line on stderr"

out=$(printf 'Hi' | "$LLMCHAT" -m "$TMP/missing" --print-prompt 2>"$TMP/err"); status=$?
is "$status" 1 "missing folder: exit status 1"
like "$(cat "$TMP/err")" "^llmchat: model folder '.*/missing' does not exist$" "missing folder: names the folder"

out=$(printf 'a\000b' | "$LLMCHAT" -m "$TMP/llama3" --print-prompt 2>"$TMP/err"); status=$?
is "$status" 1 "a NUL byte in the message: exit status 1"
like "$(cat "$TMP/err")" "^llmchat: standard input: the message holds a NUL byte \\(at offset 1\\)$" \
	"a NUL byte in the message: says where"

done_testing
