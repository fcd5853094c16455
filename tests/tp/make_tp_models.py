#!/usr/bin/env python3
"""make_tp_models.py - random-weight Llama folders with 8 heads, for the tensor-parallel checks.

    python3 tests/tp/make_tp_models.py OUTDIR

The committed tiny models have 4 attention heads (2 KV heads), so they split at most
4 ways.  These have 8 attention heads and 4 KV heads (8 ranks: each KV head shared
by two ranks), head_dim 32, hidden 128, intermediate 256, 2 layers and the tiny
models' 2304-token vocabulary (their tokenizer files are copied), written in the
three formats: OUTDIR/tp8-bf16, OUTDIR/tp8-fp8 (compressed-tensors, static per
tensor), OUTDIR/tp8-int8 (W8A8, per-channel weights, dynamic per-token inputs).
Weights are random (fixed seed) but exactly representable in their format; the
checks compare N ranks with one rank, so no reference values are needed.
Python standard library only.
"""
import json
import math
import os
import random
import shutil
import struct
import sys

HIDDEN, HEADS, KV_HEADS, HEAD_DIM, FFN, LAYERS = 128, 8, 4, 32, 256, 2
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = {"bf16": "tiny-bf16", "fp8": "tiny-fp8", "int8": "tiny-int8"}


def bf16_bytes(values):
    return b"".join(struct.pack("<f", v)[2:] for v in values)


def bf16_round(v):
    """v truncated to bfloat16 (so that the stored value is exactly v's bf16)."""
    return struct.unpack("<f", b"\0\0" + struct.pack("<f", v)[2:])[0]


def e4m3_code(m):
    """The e4m3 code of the integer m, |m| <= 15 (exact)."""
    if m == 0:
        return 0
    sign = 0x80 if m < 0 else 0
    a = abs(m)
    e = int(math.floor(math.log2(a)))
    mantissa = int(round((a / 2 ** e - 1) * 8))
    return sign | ((e + 7) << 3) | mantissa


def gauss(rng, n, std):
    return [rng.gauss(0, std) for _ in range(n)]


def linear_tensors(rng, name, rows, cols, fmt):
    """(name, dtype, shape, bytes) tuples for one linear layer."""
    if fmt == "bf16":
        return [(name + ".weight", "BF16", [rows, cols], bf16_bytes(gauss(rng, rows * cols, 1 / math.sqrt(cols))))]
    if fmt == "fp8":
        codes = bytes(e4m3_code(rng.randint(-15, 15)) for _ in range(rows * cols))
        return [(name + ".weight", "F8_E4M3", [rows, cols], codes),
                (name + ".weight_scale", "F32", [1], struct.pack("<f", 1 / (8 * math.sqrt(cols)))),
                (name + ".input_scale", "F32", [1], struct.pack("<f", rng.uniform(0.008, 0.012)))]
    values = struct.pack("<%db" % (rows * cols), *[rng.randint(-127, 127) for _ in range(rows * cols)])
    scales = [bf16_round(rng.uniform(0.6, 1.4) / (73 * math.sqrt(cols))) for _ in range(rows)]
    return [(name + ".weight", "I8", [rows, cols], values),
            (name + ".weight_scale", "BF16", [rows, 1], bf16_bytes(scales))]


def model_tensors(fmt, seed):
    rng = random.Random(seed)
    vocab = 2304
    tensors = [("model.embed_tokens.weight", "BF16", [vocab, HIDDEN], bf16_bytes(gauss(rng, vocab * HIDDEN, 1.0)))]
    q, kv = HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM
    for layer in range(LAYERS):
        p = "model.layers.%d." % layer
        norm = bf16_bytes([rng.uniform(0.8, 1.2) for _ in range(HIDDEN)])
        tensors.append((p + "input_layernorm.weight", "BF16", [HIDDEN], norm))
        tensors.append((p + "post_attention_layernorm.weight", "BF16", [HIDDEN],
                        bf16_bytes([rng.uniform(0.8, 1.2) for _ in range(HIDDEN)])))
        for name, rows, cols in (("self_attn.q_proj", q, HIDDEN), ("self_attn.k_proj", kv, HIDDEN),
                                 ("self_attn.v_proj", kv, HIDDEN), ("self_attn.o_proj", HIDDEN, q),
                                 ("mlp.gate_proj", FFN, HIDDEN), ("mlp.up_proj", FFN, HIDDEN),
                                 ("mlp.down_proj", HIDDEN, FFN)):
            tensors += linear_tensors(rng, p + name, rows, cols, fmt)
    tensors.append(("model.norm.weight", "BF16", [HIDDEN], bf16_bytes([1.0] * HIDDEN)))
    tensors.append(("lm_head.weight", "BF16", [vocab, HIDDEN], bf16_bytes(gauss(rng, vocab * HIDDEN, 0.35))))
    return tensors


def write_safetensors(path, tensors):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _, _, _, data in tensors:
            f.write(data)


def write_model(out, fmt):
    source = os.path.join(HERE, "..", "data", "models", SOURCE[fmt])
    folder = os.path.join(out, "tp8-" + fmt)
    os.makedirs(folder, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copyfile(os.path.join(source, name), os.path.join(folder, name))
    with open(os.path.join(source, "config.json")) as f:
        config = json.load(f)
    config.update(hidden_size=HIDDEN, num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=HEAD_DIM,
                  intermediate_size=FFN, num_hidden_layers=LAYERS)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(folder, "model.safetensors"), model_tensors(fmt, 2026 + len(fmt)))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_tp_models.py OUTDIR")
    for fmt in ("bf16", "fp8", "int8"):
        write_model(sys.argv[1], fmt)


if __name__ == "__main__":
    main()
