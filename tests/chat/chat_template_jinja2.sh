#!/bin/sh
# chat_template_jinja2.sh - the node reference renderings checked against Python's jinja2.
#
# transformers renders chat templates with jinja2; tests/chat/chat_template_conformance.sh
# compares the C renderer with @huggingface/jinja.  Where jinja2 is installed this
# closes the loop: the same corpus rendered by jinja2 as transformers configures
# it must equal node's renderings.  Skipped where jinja2 is missing (CI).
. "$SRCDIR/tests/lib.sh"
if ! python3 -c 'import jinja2' 2>/dev/null; then
	echo "1..0 # SKIP python3 has no jinja2"
	exit 0
fi
need_references "$REFERENCES/@huggingface/jinja"
node "$SRCDIR/tests/chat/render_reference.mjs" "$SRCDIR/tests/data/chat_templates" >"$TMP/expected.jsonl"
ok $? "node rendered the corpus"
python3 "$SRCDIR/tests/chat/crosscheck_jinja2.py" "$SRCDIR/tests/data/chat_templates" "$TMP/expected.jsonl" >"$TMP/out"
status=$?
sed 's/^/# /' "$TMP/out"
ok $status "jinja2 renders every conversation of the corpus as @huggingface/jinja does"
done_testing
