#!/usr/bin/env python3
"""make_gguf_q8.py - a GGUF of a Llama 3 shape with random Q8_0 weights, for llama-bench.

    make_gguf_q8.py [--gguf-py DIR] [--layers N] CONFIG OUT.gguf

CONFIG is a Hugging Face config.json (or the folder holding it), e.g.
tests/data/configs/llama-3.1-8b-bf16.  The file has the tensors and metadata that
llama.cpp's "llama" loader asks for: every linear weight and the token embedding in
Q8_0, the norms and llama3 rope factors in F32, and no vocabulary (tokenizer model
"no_vocab" with llama.vocab_size: llama-bench feeds random token ids and never
tokenizes text).  The values are random: only formats and shapes matter for speed.

gguf-py comes from llama.cpp's own source tree (--gguf-py, default
bench/peers/llama.cpp/src/gguf-py), and its Q8_0 quantizer (gguf.quants) makes the
blocks: one pool of random normal floats is quantized once and tiled over every
tensor, which writes the 8B shape's 8.5 GB at disk speed.

Beside OUT.gguf it writes OUT.gguf.json: parameter count, file size and the bytes of
weights a decoded token reads (every linear weight of the layers plus the output head;
the embedding is a row lookup), the same count llmchat --bench prints.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
POOL_BLOCKS = 1 << 20  # 32 Mi random weights quantized once, then tiled
CHUNK_ROWS_BYTES = 256 << 20  # bytes written per slice of a tensor


def parse_args(argv):
	p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	p.add_argument("config", help="config.json or the folder holding it")
	p.add_argument("out", help="GGUF file to write")
	p.add_argument("--gguf-py", default=os.path.join(HERE, "llama.cpp", "src", "gguf-py"),
		       help="llama.cpp's gguf-py folder")
	p.add_argument("--layers", type=int, default=0, help="override num_hidden_layers (tests)")
	p.add_argument("--seed", type=int, default=1234)
	return p.parse_args(argv)


def load_config(path, layers):
	if os.path.isdir(path):
		path = os.path.join(path, "config.json")
	with open(path) as f:
		c = json.load(f)
	if layers:
		c["num_hidden_layers"] = layers
	if c.get("head_dim") is None:
		c["head_dim"] = c["hidden_size"] // c["num_attention_heads"]
	return c


def llama3_rope_factors(c):
	"""Per-frequency divisors of Llama 3.1's rope scaling (the published formula)."""
	s = c.get("rope_scaling") or {}
	if str(s.get("rope_type", s.get("type", ""))).lower() != "llama3":
		return None
	dim, base = c["head_dim"], float(c.get("rope_theta", 10000.0))
	factor = float(s.get("factor", 8.0))
	low, high = float(s.get("low_freq_factor", 1.0)), float(s.get("high_freq_factor", 4.0))
	old_ctx = float(s.get("original_max_position_embeddings", 8192))
	wavelen = 2 * math.pi * base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
	smooth = (old_ctx / wavelen - low) / (high - low)
	mid = 1 / ((1 - smooth) / factor + smooth)
	out = np.where(wavelen < old_ctx / high, 1.0, np.where(wavelen > old_ctx / low, factor, mid))
	return out.astype(np.float32)


def tensor_plan(c):
	"""(name, numpy shape (rows, cols), 'q8' or 'f32') in llama.cpp's names, HF (out, in) order."""
	h, f, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
	q, kv = c["num_attention_heads"] * c["head_dim"], c["num_key_value_heads"] * c["head_dim"]
	plan = [("token_embd.weight", (v, h), "q8")]
	if llama3_rope_factors(c) is not None:
		plan.append(("rope_freqs.weight", (c["head_dim"] // 2,), "f32"))
	for i in range(c["num_hidden_layers"]):
		b = "blk.%d." % i
		plan += [(b + "attn_norm.weight", (h,), "f32"), (b + "attn_q.weight", (q, h), "q8"),
			 (b + "attn_k.weight", (kv, h), "q8"), (b + "attn_v.weight", (kv, h), "q8"),
			 (b + "attn_output.weight", (h, q), "q8"), (b + "ffn_norm.weight", (h,), "f32"),
			 (b + "ffn_gate.weight", (f, h), "q8"), (b + "ffn_up.weight", (f, h), "q8"),
			 (b + "ffn_down.weight", (h, f), "q8")]
	plan += [("output_norm.weight", (h,), "f32"), ("output.weight", (v, h), "q8")]
	return plan


def add_metadata(w, gguf, c, name):
	w.add_name(name)
	w.add_block_count(c["num_hidden_layers"])
	w.add_context_length(int(c.get("max_position_embeddings", 8192)))
	w.add_embedding_length(c["hidden_size"])
	w.add_feed_forward_length(c["intermediate_size"])
	w.add_head_count(c["num_attention_heads"])
	w.add_head_count_kv(c["num_key_value_heads"])
	w.add_rope_dimension_count(c["head_dim"])
	w.add_rope_freq_base(float(c.get("rope_theta", 10000.0)))
	w.add_layer_norm_rms_eps(float(c.get("rms_norm_eps", 1e-5)))
	w.add_vocab_size(c["vocab_size"])
	w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
	w.add_quantization_version(gguf.GGML_QUANT_VERSION)
	w.add_tokenizer_model("no_vocab")


def q8_pool(gguf, rng):
	"""POOL_BLOCKS Q8_0 blocks (34 bytes each) of N(0, 0.02) weights, by gguf-py's quantizer."""
	x = (rng.standard_normal((POOL_BLOCKS // 32, 32 * 32), dtype=np.float32) * 0.02)
	q = gguf.quants.quantize(x, gguf.GGMLQuantizationType.Q8_0)
	return np.ascontiguousarray(q).reshape(-1)


def write_q8(w, pool, shape, row_bytes):
	"""Streams a Q8_0 tensor of numpy shape (rows, cols) in slices tiled from the pool."""
	rows = shape[0]
	step = max(1, min(rows, CHUNK_ROWS_BYTES // row_bytes))
	fout = w.fout[0]
	w.write_padding(fout, fout.tell())
	for r0 in range(0, rows, step):
		n = min(step, rows - r0) * row_bytes  # a whole number of 34-byte blocks, as is the pool
		reps = -(-n // len(pool))
		(np.tile(pool, reps)[:n] if reps > 1 else pool[:n]).tofile(fout)
	w.write_padding(fout, rows * row_bytes)


def import_gguf(path):
	"""llama.cpp's gguf-py from PATH.  Its package imports sentencepiece and yaml for the
	HF converters only; where they are not installed, empty stand-ins let it import (the
	writer and the quantizer use neither)."""
	import importlib.util
	import types
	if not os.path.isfile(os.path.join(path, "gguf", "__init__.py")):
		raise SystemExit("make_gguf_q8: no gguf-py at %s (give --gguf-py)" % path)
	for mod, attrs in (("sentencepiece", ("SentencePieceProcessor",)), ("yaml", ())):
		if importlib.util.find_spec(mod) is None:
			stub = types.ModuleType(mod)
			for attr in attrs:
				setattr(stub, attr, None)
			sys.modules[mod] = stub
	sys.path.insert(0, path)
	import gguf
	import gguf.quants
	return gguf


def main(argv):
	a = parse_args(argv)
	gguf = import_gguf(a.gguf_py)
	c = load_config(a.config, a.layers)
	if os.path.exists(a.out + ".json"):  # its figures mark a finished file: none while this one is written
		os.remove(a.out + ".json")
	plan = tensor_plan(c)
	rng = np.random.default_rng(a.seed)
	t0 = time.time()
	pool = q8_pool(gguf, rng)
	assert len(pool) % 34 == 0
	qt = gguf.GGMLQuantizationType.Q8_0
	block, type_size = gguf.GGML_QUANT_SIZES[qt]

	w = gguf.GGUFWriter(a.out, "llama")
	add_metadata(w, gguf, c, os.path.splitext(os.path.basename(os.path.normpath(a.config)))[0] + "-random-q8_0")
	params = weight_bytes = 0
	for name, shape, kind in plan:
		n = int(np.prod(shape))
		params += n
		if kind == "q8":
			if shape[1] % block:
				raise SystemExit("make_gguf_q8: %s: %d columns is not a multiple of %d" % (name, shape[1], block))
			nbytes = n // block * type_size
			w.add_tensor_info(name, (shape[0], shape[1] // block * type_size), np.dtype(np.uint8), nbytes,
					  raw_dtype=qt)
			if name != "token_embd.weight":
				weight_bytes += nbytes
		else:
			w.add_tensor_info(name, shape, np.dtype(np.float32), n * 4)
	w.write_header_to_file()
	w.write_kv_data_to_file()
	w.write_ti_data_to_file()
	for name, shape, kind in plan:
		if kind == "q8":
			write_q8(w, pool, shape, shape[1] // block * type_size)
			w.state = gguf.gguf_writer.WriterState.WEIGHTS
			w.tensors[0].pop(name)
		elif name == "rope_freqs.weight":
			w.write_tensor_data(llama3_rope_factors(c))
		else:
			w.write_tensor_data(np.ones(shape, dtype=np.float32))
	w.close()
	size = os.path.getsize(a.out)
	info = {"file": a.out, "params": params, "file_bytes": size, "weight_bytes_per_token": weight_bytes,
		"layers": c["num_hidden_layers"], "hidden": c["hidden_size"], "vocab": c["vocab_size"],
		"seconds": round(time.time() - t0, 1)}
	with open(a.out + ".json", "w") as f:
		json.dump(info, f, indent=1)
	print("make_gguf_q8: %s: %.2f GB, %.2f G params, %.2f GB of weights read per token, %.0f s" %
	      (a.out, size / 1e9, params / 1e9, weight_bytes / 1e9, time.time() - t0))
	return 0


if __name__ == "__main__":
	sys.exit(main(sys.argv[1:]))
