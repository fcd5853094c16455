#!/bin/sh
# tests/engine/engine_fixtures.sh - the engine runs every stored format the loader accepts:
# the loader's fixture folders (tests/fixtures/make_model.py: BF16, F16, FP8 static
# and dynamic, AutoFP8, INT8 dynamic and static, sharded and tied) give finite
# logits, and a prefill equal to decoding.  Skips where the generator is absent.
. "$SRCDIR/tests/lib.sh"
make_model="$SRCDIR/tests/fixtures/make_model.py"
if [ ! -f "$make_model" ]; then
	echo "1..0 # SKIP no tests/fixtures/make_model.py"
	exit 0
fi
python3 "$make_model" "$TMP/fx" >/dev/null || { echo "Bail out! make_model.py failed"; exit 1; }
set --
for name in bf16 f16 fp8-static fp8-dynamic autofp8-static autofp8-dynamic int8-dynamic int8-static sharded-tied; do
	[ -d "$TMP/fx/$name" ] && set -- "$@" "$TMP/fx/$name"
done
"$BUILDDIR/tests/engine/test_golden" --finite "$@"
