#!/usr/bin/env python3
"""train_tiny_draft.py - tiny-draft: a smaller model trained on the tiny models' text, the
draft of speculative decoding's tests (--draft-model).

    python3 tests/models/train_tiny_draft.py OUT_DIR

Runs on a machine with PyTorch, transformers and tokenizers (the device machine), from the
project root: it reads the committed tests/data/models/tiny-bf16 (its tokenizer, and the
model itself as the target to compare with) and writes OUT_DIR/tiny-draft.

Shape: hidden 64, 2 layers, 2 attention heads and 1 key-value head of 32, intermediate 192
(about a sixth of tiny-bf16's parameters outside the embeddings), BF16, untied, the Llama
3.1 template.  It is trained as tiny-bf16 was (train_tiny_models.py's sequences and
schedule) but for STEPS steps (default 300, against 1500), so that it is often but not
always the target's choice: acceptance is real.  Prints, for the recital and the answer
to "Who are you?", the share of positions where its greedy token is tiny-bf16's: the
acceptance a greedy --draft-model run sees there.
"""
import json
import os
import sys

import torch
from tokenizers import Tokenizer
from transformers import LlamaForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_tiny_models import (RECITAL, bf16_state, encode_with_specials, legacy_config, log,  # noqa: E402
                               make_config, render, special, train, training_sequences, write_folder)

TARGET = os.path.join("tests", "data", "models", "tiny-bf16")
TEMPLATE = "llama-3.1-instruct.jinja"
SHAPE = dict(hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=2,
             num_key_value_heads=1, head_dim=32)


def agreement(draft, target, ids, first):
    """Positions first.. of ids where the two models' argmax agree, and their count."""
    with torch.no_grad():
        x = torch.tensor([ids])
        a = draft(input_ids=x).logits[0, first:].argmax(-1)
        b = target(input_ids=x).logits[0, first:].argmax(-1)
    return int((a == b).sum()), len(ids) - first


def main():
    out_dir = sys.argv[1]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    tok = json.load(open(os.path.join(TARGET, "tokenizer.json"), encoding="utf-8"))
    tokenizer = Tokenizer.from_str(json.dumps(tok))
    cfg, bos, eos = make_config(tok, tied=False, **SHAPE)
    seqs = training_sequences(tokenizer, tok, TEMPLATE, [None])
    model = train(cfg, seqs, int(os.environ.get("STEPS", "300")), device)
    path = os.path.join(out_dir, "tiny-draft")
    write_folder(path, legacy_config(cfg), bf16_state(model), tok, TEMPLATE, eos, bos)

    draft = LlamaForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    target = LlamaForCausalLM.from_pretrained(TARGET, dtype=torch.float32).eval()
    recital = [special(tok, "<|begin_of_text|>")] + encode_with_specials(tokenizer, RECITAL)
    golden = json.load(open(os.path.join("tests", "data", "golden", "tiny-bf16.json"), encoding="utf-8"))
    prompt = encode_with_specials(tokenizer, render(TEMPLATE, [{"role": "user", "content": "Who are you?"}]))
    chat = prompt + encode_with_specials(tokenizer, golden["chat_answer_text"] + "<|eot_id|>")
    for label, ids, first in (("recital", recital, 0), ("answer to \"Who are you?\"", chat, len(prompt) - 1)):
        same, n = agreement(draft, target, ids, first)
        log("tiny-draft vs tiny-bf16, %s: argmax the same at %d of %d positions (%.1f%%)" %
            (label, same, n, 100.0 * same / n))


if __name__ == "__main__":
    main()
