#!/bin/sh
# chat_template_conformance.sh - the C chat templates against @huggingface/jinja.
#
# node renders the three real templates for the corpus in tests/chat/render_reference.mjs
# (one run, JSON lines); tests/chat/chat_conformance renders the same in C and compares
# byte for byte, one TAP line per (template, conversation).
. "$SRCDIR/tests/lib.sh"
need_references "$REFERENCES/@huggingface/jinja"
if ! node "$SRCDIR/tests/chat/render_reference.mjs" "$SRCDIR/tests/data/chat_templates" >"$TMP/expected.jsonl"; then
	echo "Bail out! tests/chat/render_reference.mjs failed (is tests/npm/node_modules installed?)"
	exit 1
fi
"$BUILDDIR/tests/chat/chat_conformance" "$TMP/expected.jsonl"
