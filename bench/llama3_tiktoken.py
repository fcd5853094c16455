"""llama3_tiktoken.py - a Llama 3 tokenizer.json as Python's native tiktoken (Rust
core) takes it: the vocabulary's GPT-2 byte-level strings decoded to bytes, rank = id,
Llama 3's pattern, no special tokens.  For bench/tokenizer_device.sh and
bench/tokenizer_native_diff.py."""
import json

import tiktoken

PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
           r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def byte_level_decoder():
    """GPT-2's byte-to-unicode table, inverted: a token's string -> its bytes."""
    table, extra = {}, 0
    for b in range(256):
        if 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255:
            table[chr(b)] = b
        else:
            table[chr(256 + extra)] = b
            extra += 1
    return lambda s: bytes(table[ch] for ch in s)


def llama3_encoding(tokenizer_json):
    """tiktoken.Encoding over the ranks of the tokenizer.json at that path."""
    with open(tokenizer_json, encoding="utf-8") as f:
        vocab = json.load(f)["model"]["vocab"]
    decode = byte_level_decoder()
    ranks = {decode(token): rank for token, rank in vocab.items()}
    return tiktoken.Encoding("llama3", pat_str=PATTERN, mergeable_ranks=ranks, special_tokens={})
