#!/bin/bash
# bench/peers/test_peers.sh - checks of the peer benchmark's pieces that need no GPU:
# peers_table.py on fixtures (testdata/: llmchat --bench text in mode_bench.c's formats, a
# llama-bench JSON in its json_printer's form), and, where numpy and the carried gguf-py are
# there, make_gguf_q8.py on a tiny shape read back through gguf-py's GGUFReader; where a
# llama-bench binary is there too, that it loads the tiny GGUF and runs it on the CPU.
#   bash bench/peers/test_peers.sh [PYTHON]      (TAP, its plan last; prints "N passed, N failed" last;
#   make check runs it)
set -u
here=$(cd "$(dirname "$0")" && pwd)
py=${1:-python3}
tmp=$(mktemp -d)
[ -n "${KEEP_TMP:-}" ] && echo "# keeping $tmp" || trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

table() {
	python3 "$here/peers_table.py" --gguf-info "$here/testdata/gguf-8b.json" --llama-commit c392e5094dea \
		--llmchat-version test --device "NVIDIA H100 80GB HBM3" --shape Llama-3.1-8B --json "$tmp/t.json" "$@"
}

# 1. the full fixture set: four rows, ratios against llama.cpp's best setting (-fa 1 here)
table --llama-json "$here/testdata/llama-bench.json" --llmchat "fp8=$here/testdata/llmchat-fp8.txt" \
	--llmchat "int8=$here/testdata/llmchat-int8.txt" > "$tmp/full.md" 2> "$tmp/full.err"
check "table exits 0 on complete inputs" "[ $? -eq 0 ]"
check "table has two llama.cpp and two llmchat rows" \
	"[ \$(grep -c '^| llama.cpp ' $tmp/full.md) -eq 2 ] && [ \$(grep -c '^| llmchat ' $tmp/full.md) -eq 2 ]"
check "decode ratio 282.6 / 190.8 = 1.48x, below issue 16's 2x target" \
	"grep -q 'Q8_0 (-fa 1), decode: 1.48x (target >= 2.0x: BELOW)' $tmp/full.md"
check "prefill 2048 ratio 51576 / 10636 = 4.85x, meets 4x" "grep -q 'prefill 2048: 4.85x (target >= 4.0x: meets)' $tmp/full.md"
check "llama.cpp -fa 1 row: 10661, 10636, 190.8 tok/s, no sampled figure, 7.97 GB/token, 1521 GB/s, 50.6% of 3008 GB/s" \
	"grep -q '| Q8_0, -fa 1 | Llama-3.1-8B | NVIDIA H100 80GB HBM3 | 10661 | 10636 | 190.8 | - | 7.97 | 1521 | 50.6% |' $tmp/full.md"
check "llmchat FP8 row: 46369, 51576, 282.6 tok/s greedy, 276.5 sampled, 8.03 GB/token, 2269 GB/s, 75.4%" \
	"grep -q '| FP8 | Llama-3.1-8B | NVIDIA H100 80GB HBM3 | 46369 | 51576 | 282.6 | 276.5 | 8.03 | 2269 | 75.4% |' $tmp/full.md"
check "JSON figures: copy 3008 GB/s, decode ratio 282.6 / 190.785659" \
	"python3 -c 'import json,sys; d=json.load(open(\"$tmp/t.json\")); sys.exit(not (d[\"copy_gbs\"]==3008 and abs(d[\"ratios\"][\"decode\"]-282.6/190.785659)<1e-9))'"

# 2. a llama-bench run cut after its -fa 0 tests keeps them
python3 - "$here/testdata/llama-bench.json" "$tmp/cut.json" <<'EOF'
import sys
text = open(sys.argv[1]).read()
ends = [i for i in range(len(text)) if text.startswith("\n  }", i)]
open(sys.argv[2], "w").write(text[:ends[2] + 4] + ",\n  {\n    \"build_commit\": ")
EOF
table --llama-json "$tmp/cut.json" --llmchat "fp8=$here/testdata/llmchat-fp8.txt" > "$tmp/cut.md" 2> "$tmp/cut.err"
check "a cut llama-bench JSON keeps its finished -fa 0 tests" \
	"[ \$(grep -c '^| llama.cpp ' $tmp/cut.md) -eq 1 ] && grep -q 'Q8_0 (-fa 0), decode: 1.56x' $tmp/cut.md"

# 3. a missing llmchat output: the rest is printed, a message names it, exit 1
table --llama-json "$here/testdata/llama-bench.json" --llmchat "fp8=$tmp/none.txt" > "$tmp/miss.md" 2> "$tmp/miss.err"
check "a missing llmchat output exits 1 with a message, llama.cpp rows still printed" \
	"[ $? -eq 1 ] && grep -q 'llmchat fp8:' $tmp/miss.err && [ \$(grep -c '^| llama.cpp ' $tmp/miss.md) -eq 2 ]"

# 4. an llmchat output without its copy line is refused
grep -v 'ceilings measured' "$here/testdata/llmchat-fp8.txt" > "$tmp/nocopy.txt"
table --llama-json "$here/testdata/llama-bench.json" --llmchat "fp8=$tmp/nocopy.txt" > /dev/null 2> "$tmp/nocopy.err"
check "llmchat output without the copy bandwidth line is refused" "grep -q 'copy N GB/s' $tmp/nocopy.err"

# 5. the GGUF writer on a tiny Llama 3 shape, read back by llama.cpp's gguf-py
if "$py" -c 'import numpy' 2> /dev/null && [ -f "$here/llama.cpp/src/gguf-py/gguf/__init__.py" ]; then
	cat > "$tmp/tiny.json" <<'EOF'
{"hidden_size": 256, "intermediate_size": 512, "num_attention_heads": 4, "num_key_value_heads": 2,
 "num_hidden_layers": 2, "vocab_size": 1024, "rope_theta": 500000.0, "rms_norm_eps": 1e-5,
 "max_position_embeddings": 4096, "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0,
 "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}}
EOF
	"$py" "$here/make_gguf_q8.py" "$tmp/tiny.json" "$tmp/tiny.gguf" > "$tmp/gguf.log" 2>&1
	check "make_gguf_q8.py writes the tiny GGUF" "[ $? -eq 0 ] && [ -s $tmp/tiny.gguf ]"
	"$py" - "$here/llama.cpp/src/gguf-py" "$tmp/tiny.gguf" > "$tmp/read.log" 2>&1 <<'EOF'
import json, sys, types
import numpy as np
sys.modules.setdefault("sentencepiece", types.SimpleNamespace(SentencePieceProcessor=None))
sys.path.insert(0, sys.argv[1])
import gguf
from gguf.quants import dequantize
r = gguf.GGUFReader(sys.argv[2])
def field(k):
	f = r.fields[k]
	v = f.parts[f.data[0]]
	return bytes(v).decode() if f.types[0] == gguf.GGUFValueType.STRING else v[0]
assert field("general.architecture") == "llama"
assert field("tokenizer.ggml.model") == "no_vocab"
assert field("llama.vocab_size") == 1024 and field("llama.block_count") == 2
assert field("llama.attention.head_count_kv") == 2 and field("general.file_type") == 7
t = {x.name: x for x in r.tensors}
assert len(t) == 4 + 2 * 9, len(t)  # embedding, rope factors, output norm and head; 9 a layer
q = t["blk.1.attn_k.weight"]
assert q.tensor_type == gguf.GGMLQuantizationType.Q8_0 and list(q.shape) == [256, 128], (q.tensor_type, q.shape)
w = dequantize(q.data, q.tensor_type)
assert w.shape == (128, 256) and 0.015 < w.std() < 0.025 and abs(w.mean()) < 0.002, (w.shape, w.std())
assert t["output.weight"].tensor_type == gguf.GGMLQuantizationType.Q8_0
assert t["blk.0.ffn_norm.weight"].tensor_type == gguf.GGMLQuantizationType.F32
f = np.asarray(t["rope_freqs.weight"].data)
assert f.shape == (32,) and f[0] == 1.0 and f[-1] == 8.0, f
info = json.load(open(sys.argv[2] + ".json"))
q8 = [x for x in r.tensors if x.tensor_type == gguf.GGMLQuantizationType.Q8_0 and x.name != "token_embd.weight"]
assert info["weight_bytes_per_token"] == sum(int(x.n_bytes) for x in q8), info
print("read back: %d tensors" % len(t))
EOF
	rc=$?
	check "gguf-py reads it back: metadata, Q8_0 shapes, N(0, 0.02) values, rope factors, byte count" \
		"[ $rc -eq 0 ]"
	[ $rc -eq 0 ] || tail -5 "$tmp/read.log"
	lb=$here/llama.cpp/bin/llama-bench
	if [ ! -x "$lb" ] && [ -s "$lb.xz" ]; then
		"$py" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
			"$lb.xz" "$tmp/llama-bench" && chmod +x "$tmp/llama-bench" && lb=$tmp/llama-bench
	fi
	# without a GPU driver, CUDA's stub libcuda lets the binary start (its CUDA backend then finds no device)
	stub=
	if ! ldconfig -p | grep -q 'libcuda.so.1 ' && [ -f /usr/local/cuda/lib64/stubs/libcuda.so ]; then
		mkdir -p "$tmp/stub" && ln -s /usr/local/cuda/lib64/stubs/libcuda.so "$tmp/stub/libcuda.so.1"
		stub=$tmp/stub
	fi
	if [ -x "$lb" ]; then
		LD_LIBRARY_PATH=${stub}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
			"$lb" -m "$tmp/tiny.gguf" -p 16 -n 4 -ngl 0 -r 1 -o json > "$tmp/lb.json" 2> "$tmp/lb.log"
		rc=$?
		check "llama-bench loads the tiny GGUF and runs pp16 and tg4 on the CPU" \
			"[ $rc -eq 0 ] && [ \$(grep -c '\"avg_ts\"' $tmp/lb.json) -eq 2 ]"
		[ $rc -eq 0 ] || tail -5 "$tmp/lb.log"
	else
		echo "# skipped: no llama-bench at $lb"
	fi
else
	echo "# skipped: no numpy for $py or no gguf-py at $here/llama.cpp/src/gguf-py"
fi

# 6. run.sh end to end with stand-ins for nvidia-smi, llmchat and llama-bench (the fixtures)
mkdir -p "$tmp/bin" "$tmp/build/src" "$tmp/out"
printf '#!/bin/sh\necho "NVIDIA H200"\n' > "$tmp/bin/nvidia-smi"
cat > "$tmp/build/src/llmchat" <<EOF
#!/bin/sh
[ "\$1" = --version ] && { echo "llmchat 0.1.0"; exit 0; }
case "\$3" in *fp8) cat "$here/testdata/llmchat-fp8.txt";; *) cat "$here/testdata/llmchat-int8.txt";; esac
EOF
cat > "$tmp/bin/llama-bench" <<EOF
#!/bin/sh
[ "\$1" = --help ] && { echo "usage: llama-bench [options]"; exit 0; }
echo "\$*" > "$tmp/lb-args"
cat "$here/testdata/llama-bench.json"
EOF
chmod +x "$tmp/bin/nvidia-smi" "$tmp/build/src/llmchat" "$tmp/bin/llama-bench"
: > "$tmp/fake.gguf"
echo 1 > "$tmp/fake.gguf"
cp "$here/testdata/gguf-8b.json" "$tmp/fake.gguf.json"
PATH="$tmp/bin:$PATH" OUT="$tmp/out" GGUF="$tmp/fake.gguf" LLAMA_BENCH="$tmp/bin/llama-bench" \
	bash "$here/run.sh" "$tmp/build" > "$tmp/run.log" 2>&1
rc=$?
check "run.sh with stand-ins exits 0 and writes table.md with the ratios" \
	"[ $rc -eq 0 ] && grep -q 'decode: 1.48x' $tmp/out/table.md && [ -s $tmp/out/peers.json ]"
check "run.sh gives llama-bench -m GGUF -p 512,2048 -n 128 -fa 0,1 -ngl 99 -o json" \
	"[ \"\$(cat $tmp/lb-args)\" = '-m $tmp/fake.gguf -p 512,2048 -n 128 -fa 0,1 -ngl 99 -o json' ]"
[ $rc -eq 0 ] || tail -20 "$tmp/run.log"

echo "1..$((pass + fail))"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
