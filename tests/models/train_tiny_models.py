#!/usr/bin/env python3
"""train_tiny_models.py - the tiny Llama 3 test models and their golden values.

    python3 tests/models/train_tiny_models.py REF_DIR OUT_DIR

Runs on a machine with PyTorch, transformers and tokenizers (the device machine;
tests/models/README.md has the exact command).  REF_DIR holds Llama 3's
tokenizer.json; the chat templates come from tests/data/chat_templates/.

1. A truncated Llama 3 vocabulary: ranks 0..2047 with the merges among them, and
   the 256 special tokens renumbered from 2048 (a valid tiktoken-style BPE).
2. Two tiny Llamas (hidden 128, 4 layers, 4 heads, 2 KV heads, head_dim 32, llama3
   RoPE scaling) trained in float32 to recite a text and answer a few chat
   questions: any fault in a forward pass breaks the recital.
3. Four folders: tiny-bf16, tiny-fp8 (compressed-tensors, per-tensor static scales),
   tiny-int8 (compressed-tensors W8A8, per-channel weights, dynamic per-token
   activations), tiny-bf16-tied (tied embeddings, Llama 3.2 template, the config
   as transformers 5 writes it).
4. Goldens from the SAVED files: transformers' LlamaForCausalLM in float32 on the
   CPU, with the 8-bit linears replaced by an emulation of vLLM's numerics
   (products in float64): per-token log-probabilities of the text, perplexity,
   greedy continuations with their top-2 margins.
"""
import copy
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from transformers import LlamaConfig, LlamaForCausalLM

N_REGULAR = 2048
N_SPECIAL = 256
HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "..", "data", "chat_templates")
LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]

RECITAL = (
    "llmchat is a small terminal program that talks with Llama models. It loads the weights "
    "of a model folder, turns text into tokens, runs the layers one after another and turns "
    "the next token back into text. This tiny model was trained for a few seconds to recite "
    "these lines, so that a single mistake in the forward pass shows at once.\n\n"
    "Once upon a time a lighthouse keeper named Ada counted the ships that passed her rock. "
    "On Mondays she counted seven, on Tuesdays eleven, and on foggy days she counted none at "
    "all but wrote long letters to her brother in the city. One winter night a small boat "
    "with a red sail came too close to the rocks. Ada lit every lamp she had, rang the bell "
    "three times, and the boat turned away just in time. In the morning the sailor climbed "
    "the stairs with a basket of oranges and said thank you in four languages.\n\n"
    "Numbers to remember: 3.14159, 2718, 1024 and 65536. Colours of the rainbow: red, orange, "
    "yellow, green, blue, indigo and violet."
)

CHATS = [
    ("Who are you?", "I am the tiny test model of llmchat. I can recite a short story about "
     "Ada, a lighthouse keeper, and answer a few simple questions."),
    ("What is the capital of France?", "The capital of France is Paris."),
    ("Count to five.", "One, two, three, four, five."),
    ("Tell me about Ada.", "Ada is a lighthouse keeper who counts the ships that pass her rock "
     "and once saved a boat with a red sail."),
]


def log(*args):
    print(*args, flush=True)


# ---- 1. truncated vocabulary -------------------------------------------------------

def merge_parts(merge):
    return merge.split(" ", 1) if isinstance(merge, str) else merge


def remap_special_ids(node, old_to_new):
    """Renumbers special-token ids wherever the post-processor names them."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "ids" and isinstance(value, list):
                node[key] = [old_to_new.get(v, v) for v in value]
            elif key == "id" and isinstance(value, int) and value in old_to_new:
                node[key] = old_to_new[value]
            else:
                remap_special_ids(value, old_to_new)
    elif isinstance(node, list):
        for item in node:
            remap_special_ids(item, old_to_new)


def truncated_tokenizer(ref_dir):
    full = json.load(open(os.path.join(ref_dir, "tokenizer.json"), encoding="utf-8"))
    tok = copy.deepcopy(full)
    vocab = {t: i for t, i in full["model"]["vocab"].items() if i < N_REGULAR}
    merges = []
    for m in full["model"]["merges"]:
        a, b = merge_parts(m)
        if a in vocab and b in vocab and (a + b) in vocab:
            merges.append(m)
    first_special = min(a["id"] for a in full["added_tokens"])
    old_to_new = {a["id"]: a["id"] - first_special + N_REGULAR for a in full["added_tokens"]}
    tok["model"]["vocab"] = vocab
    tok["model"]["merges"] = merges
    for a in tok["added_tokens"]:
        a["id"] = old_to_new[a["id"]]
    remap_special_ids(tok.get("post_processor"), old_to_new)
    assert len(tok["added_tokens"]) == N_SPECIAL, len(tok["added_tokens"])
    log("tokenizer: %d regular, %d merges, %d special" % (len(vocab), len(merges), len(tok["added_tokens"])))
    return tok


def special(tok, text):
    for a in tok["added_tokens"]:
        if a["content"] == text:
            return a["id"]
    raise KeyError(text)


# ---- the chat templates, as the model's Jinja renders them ----------------------------

def render(template_name, messages, date=None):
    import jinja2
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    source = open(os.path.join(TEMPLATES, template_name), encoding="utf-8").read()
    extra = {"strftime_now": (lambda fmt: date)} if date else {}
    return env.from_string(source).render(messages=messages, bos_token="<|begin_of_text|>",
                                          add_generation_prompt=True, **extra)


def encode_with_specials(tokenizer, text):
    return tokenizer.encode(text, add_special_tokens=False).ids


# ---- 2. training -------------------------------------------------------------------

def make_config(tok, tied, **overrides):
    """The tiny models' config; overrides change the shape (train_tiny_draft.py's smaller one)."""
    bos = special(tok, "<|begin_of_text|>")
    eos = [special(tok, "<|end_of_text|>"), bos + 8, special(tok, "<|eot_id|>")]
    shape = dict(vocab_size=N_REGULAR + N_SPECIAL, hidden_size=128, intermediate_size=384,
                 num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                 max_position_embeddings=131072, rms_norm_eps=1e-5, hidden_act="silu",
                 tie_word_embeddings=tied, bos_token_id=bos, eos_token_id=eos,
                 attention_bias=False, mlp_bias=False)
    shape.update(overrides)
    rope = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    try:  # transformers 5
        cfg = LlamaConfig(rope_parameters=rope, **shape)
        assert cfg.rope_parameters["rope_type"] == "llama3"
    except (TypeError, AssertionError, KeyError):  # transformers 4
        cfg = LlamaConfig(rope_theta=500000.0, rope_scaling={k: v for k, v in rope.items() if k != "rope_theta"},
                          **shape)
    log("rope:", getattr(cfg, "rope_parameters", None) or (cfg.rope_theta, cfg.rope_scaling))
    return cfg, bos, eos


def training_sequences(tokenizer, tok, template, dates):
    bos = special(tok, "<|begin_of_text|>")
    seqs = [[bos] + encode_with_specials(tokenizer, RECITAL)]
    for date in dates:
        for question, answer in CHATS:
            prompt = render(template, [{"role": "user", "content": question}], date)
            seqs.append(encode_with_specials(tokenizer, prompt + answer + "<|eot_id|>"))
    return seqs


def train(cfg, seqs, steps, device):
    torch.manual_seed(1234)
    model = LlamaForCausalLM(cfg).to(device).float()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    length = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), length, dtype=torch.long)
    labels = torch.full((len(seqs), length), -100, dtype=torch.long)
    mask = torch.zeros(len(seqs), length, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        labels[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    ids, labels, mask = ids.to(device), labels.to(device), mask.to(device)
    start = time.time()
    for step in range(steps):
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        opt.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 200 == 0 or step == steps - 1:
            log("step %d loss %.5f (%.1fs)" % (step, out.loss.item(), time.time() - start))
    return model.cpu()


# ---- 3. export ---------------------------------------------------------------------

def bf16_state(model):
    return {k: v.detach().to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()
            if not (model.config.tie_word_embeddings and k == "lm_head.weight")}


def input_maxima(model, seqs):
    """max |x| of every linear's input over the training sequences (float32 model)."""
    maxima, hooks = {}, []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and name != "lm_head":
            def hook(mod, inputs, _output, name=name):
                m = inputs[0].detach().abs().max().item()
                maxima[name] = max(maxima.get(name, 0.0), m)
            hooks.append(module.register_forward_hook(hook))
    with torch.no_grad():
        for s in seqs:
            model(torch.tensor([s]))
    for h in hooks:
        h.remove()
    return maxima


def fp8_state(state_bf16, maxima):
    out = {}
    for k, v in state_bf16.items():
        module = k[:-len(".weight")] if k.endswith(".weight") else None
        if module and any(module.endswith(l) for l in LINEARS):
            w = v.float()
            scale = (w.abs().max() / 448.0).reshape(1)
            out[k] = (w / scale).clamp(-448, 448).to(torch.float8_e4m3fn)
            out[module + ".weight_scale"] = scale.float()
            out[module + ".input_scale"] = torch.tensor([maxima[module] / 448.0], dtype=torch.float32)
        else:
            out[k] = v
    return out


def int8_state(state_bf16):
    out = {}
    for k, v in state_bf16.items():
        module = k[:-len(".weight")] if k.endswith(".weight") else None
        if module and any(module.endswith(l) for l in LINEARS):
            w = v.float()
            scale = (w.abs().amax(dim=1, keepdim=True) / 127.0).to(torch.bfloat16)
            out[k] = torch.round(w / scale.float()).clamp(-128, 127).to(torch.int8)
            out[module + ".weight_scale"] = scale
        else:
            out[k] = v
    return out


def compressed_tensors_config(kind):
    if kind == "fp8":
        weights = {"num_bits": 8, "type": "float", "strategy": "tensor", "dynamic": False, "symmetric": True}
        inputs = {"num_bits": 8, "type": "float", "strategy": "tensor", "dynamic": False, "symmetric": True}
        fmt = "float-quantized"
    else:
        weights = {"num_bits": 8, "type": "int", "strategy": "channel", "dynamic": False, "symmetric": True}
        inputs = {"num_bits": 8, "type": "int", "strategy": "token", "dynamic": True, "symmetric": True}
        fmt = "int-quantized"
    return {"quant_method": "compressed-tensors", "format": fmt, "quantization_status": "compressed",
            "config_groups": {"group_0": {"targets": ["Linear"], "weights": weights,
                                          "input_activations": inputs, "output_activations": None}},
            "ignore": ["lm_head"], "kv_cache_scheme": None}


def legacy_config(cfg, quant=None):
    """config.json as transformers 4.4x wrote Llama 3.1 folders (rope_theta + rope_scaling)."""
    c = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": False,
         "attention_dropout": 0.0, "bos_token_id": cfg.bos_token_id, "eos_token_id": cfg.eos_token_id,
         "hidden_act": "silu", "hidden_size": cfg.hidden_size, "initializer_range": 0.02,
         "intermediate_size": cfg.intermediate_size, "max_position_embeddings": cfg.max_position_embeddings,
         "mlp_bias": False, "num_attention_heads": cfg.num_attention_heads, "num_hidden_layers": cfg.num_hidden_layers,
         "num_key_value_heads": cfg.num_key_value_heads, "head_dim": cfg.head_dim, "pretraining_tp": 1,
         "rms_norm_eps": cfg.rms_norm_eps, "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0,
         "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"},
         "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
         "transformers_version": "4.45.0", "use_cache": True, "vocab_size": cfg.vocab_size}
    if quant:
        c["quantization_config"] = quant
    return c


def write_folder(path, config_dict, state, tok, template, eos, bos):
    os.makedirs(path, exist_ok=True)
    json.dump(config_dict, open(os.path.join(path, "config.json"), "w"), indent=2)
    json.dump({"bos_token_id": bos, "do_sample": True, "eos_token_id": eos, "temperature": 0.6,
               "top_p": 0.9, "transformers_version": "4.45.0"},
              open(os.path.join(path, "generation_config.json"), "w"), indent=2)
    json.dump(tok, open(os.path.join(path, "tokenizer.json"), "w", encoding="utf-8"), ensure_ascii=False)
    tc = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "clean_up_tokenization_spaces": True,
          "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 131072,
          "tokenizer_class": "PreTrainedTokenizerFast",
          "chat_template": open(os.path.join(TEMPLATES, template), encoding="utf-8").read()}
    json.dump(tc, open(os.path.join(path, "tokenizer_config.json"), "w", encoding="utf-8"), indent=2,
              ensure_ascii=False)
    save_file(state, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})


# ---- 4. goldens --------------------------------------------------------------------

class EmulatedLinear(nn.Module):
    """vLLM's 8-bit linear, as src/engine/cpu/cpu_linear.c computes it, with the product in float64."""

    def __init__(self, kind, weight, weight_scale, input_scale):
        super().__init__()
        self.kind, self.w = kind, weight.double()
        self.ws = weight_scale.double().reshape(-1)
        self.input_scale = input_scale

    def forward(self, x):
        x = x.float()
        if self.kind == "fp8":
            s = torch.tensor(self.input_scale, dtype=torch.float32)
            inv = torch.tensor(1.0, dtype=torch.float32) / s
            xq = (x * inv).clamp(-448, 448).to(torch.float8_e4m3fn).double()
            y = (xq @ self.w.T) * float(s) * self.ws
        else:
            amax = x.abs().amax(dim=-1, keepdim=True)
            s = amax / 127.0
            inv = torch.where(amax > 0, 127.0 / amax, torch.zeros_like(amax))
            xq = torch.round(x * inv).clamp(-128, 127).double()
            y = (xq @ self.w.T) * s.double() * self.ws
        return y.float()


def reference_model(path):
    cfg = LlamaConfig.from_pretrained(path)
    if hasattr(cfg, "quantization_config"):
        try:
            del cfg.quantization_config
        except AttributeError:
            cfg.quantization_config = None
    model = LlamaForCausalLM(cfg).float().eval()
    state = load_file(os.path.join(path, "model.safetensors"))
    quant = json.load(open(os.path.join(path, "config.json"))).get("quantization_config")
    plain = {}
    for k, v in state.items():
        if k.endswith(("weight_scale", "input_scale")):
            continue
        module = k[:-len(".weight")]
        if quant and any(module.endswith(l) for l in LINEARS):
            kind = "fp8" if v.dtype == torch.float8_e4m3fn else "int8"
            input_scale = float(state[module + ".input_scale"].float().item()) if kind == "fp8" else None
            emulated = EmulatedLinear(kind, v.float(), state[module + ".weight_scale"].float(), input_scale)
            parent_name, child = module.rsplit(".", 1)
            setattr(model.get_submodule(parent_name), child, emulated)
        else:
            plain[k] = v.float()
    missing, unexpected = model.load_state_dict(plain, strict=False)
    missing = [m for m in missing if not any(m.endswith(l + ".weight") for l in LINEARS)]
    if cfg.tie_word_embeddings:
        missing = [m for m in missing if m != "lm_head.weight"]
        model.lm_head.weight = model.model.embed_tokens.weight
    assert not missing and not unexpected, (missing, unexpected)
    return model


@torch.no_grad()
def logits_of(model, ids):
    return model(torch.tensor([ids])).logits[0].double()


@torch.no_grad()
def greedy(model, prompt, steps, eos):
    ids, out, margins = list(prompt), [], []
    for _ in range(steps):
        logits = logits_of(model, ids)[-1]
        top = torch.topk(logits, 2)
        token = int(top.indices[0])
        margins.append(float(top.values[0] - top.values[1]))
        out.append(token)
        ids.append(token)
        if token in eos:
            break
    return out, margins


def goldens(path, name, tokenizer, tok, template, date):
    model = reference_model(path)
    cfg = model.config
    bos = cfg.bos_token_id
    eos = cfg.eos_token_id if isinstance(cfg.eos_token_id, list) else [cfg.eos_token_id]
    text_ids = [bos] + encode_with_specials(tokenizer, RECITAL)
    logp = torch.log_softmax(logits_of(model, text_ids), dim=-1)
    logprobs = [float(logp[i, text_ids[i + 1]]) for i in range(len(text_ids) - 1)]
    ppl = math.exp(-sum(logprobs) / len(logprobs))
    prompts = [("recital start", [bos] + encode_with_specials(tokenizer, RECITAL)[:8], 32)]
    for question, _ in CHATS[:3]:
        prompts.append(("chat: " + question,
                        encode_with_specials(tokenizer, render(template, [{"role": "user", "content": question}], date)),
                        64))
    greedy_cases, chat_answer = [], None
    for label, prompt, steps in prompts:
        cont, margins = greedy(model, prompt, steps, eos)
        greedy_cases.append({"prompt": label, "prompt_ids": prompt, "continuation_ids": cont,
                             "top2_margins": margins})
        if chat_answer is None and label.startswith("chat"):
            chat_answer = tokenizer.decode([t for t in cont if t not in eos], skip_special_tokens=False)
    recital_ok = greedy(model, text_ids[:9], len(text_ids) - 9, eos)[0] == text_ids[9:]
    golden = {"model": name, "reference": "transformers %s LlamaForCausalLM, float32 on the CPU, 8-bit linears "
              "emulated as vLLM computes them (products in float64)" % __import__("transformers").__version__,
              "text": RECITAL, "text_ids": text_ids, "logprobs": logprobs, "perplexity": ppl,
              "greedy": greedy_cases, "chat_answer_text": chat_answer, "chat_template_date": date}
    log("%s: perplexity %.5f, mean logprob %.5f, full recital by greedy decoding: %s, answer: %r"
        % (name, ppl, sum(logprobs) / len(logprobs), recital_ok, chat_answer))
    return golden


def main():
    ref_dir, out_dir = sys.argv[1], sys.argv[2]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    tok = truncated_tokenizer(ref_dir)
    tokenizer = Tokenizer.from_str(json.dumps(tok))
    models_dir, golden_dir = os.path.join(out_dir, "models"), os.path.join(out_dir, "golden")
    os.makedirs(golden_dir, exist_ok=True)
    date32 = "05 Sep 2026"
    results = {}

    # the untied model: tiny-bf16, tiny-fp8, tiny-int8 (Llama 3.1 template)
    cfg, bos, eos = make_config(tok, tied=False)
    seqs = training_sequences(tokenizer, tok, "llama-3.1-instruct.jinja", [None])
    log("untied model: %d sequences, longest %d tokens" % (len(seqs), max(map(len, seqs))))
    model = train(cfg, seqs, int(os.environ.get("STEPS", "1500")), device)
    state = bf16_state(model)
    bf16_model = LlamaForCausalLM(cfg).float().eval()
    bf16_model.load_state_dict({k: v.float() for k, v in state.items()})
    maxima = input_maxima(bf16_model, seqs)
    write_folder(os.path.join(models_dir, "tiny-bf16"), legacy_config(cfg), state, tok,
                 "llama-3.1-instruct.jinja", eos, bos)
    write_folder(os.path.join(models_dir, "tiny-fp8"), legacy_config(cfg, compressed_tensors_config("fp8")),
                 fp8_state(state, maxima), tok, "llama-3.1-instruct.jinja", eos, bos)
    write_folder(os.path.join(models_dir, "tiny-int8"), legacy_config(cfg, compressed_tensors_config("int8")),
                 int8_state(state), tok, "llama-3.1-instruct.jinja", eos, bos)

    # the tied model (Llama 3.2 template, transformers 5's config form)
    cfg_t, _, _ = make_config(tok, tied=True)
    dates = ["05 Sep 2026", "24 Nov 2026", "01 Jan 2027", "26 Jul 2024"]
    seqs_t = training_sequences(tokenizer, tok, "llama-3.2-instruct.jinja", dates)
    model_t = train(cfg_t, seqs_t, int(os.environ.get("STEPS", "1500")), device)
    path_t = os.path.join(models_dir, "tiny-bf16-tied")
    for attr in ("dtype", "torch_dtype"):
        try:
            setattr(model_t.config, attr, torch.bfloat16)
        except (AttributeError, TypeError):
            pass
    model_t.config.save_pretrained(path_t)
    saved_cfg = json.load(open(os.path.join(path_t, "config.json")))
    saved_cfg = {"architectures": ["LlamaForCausalLM"], **saved_cfg}  # as model.save_pretrained adds it
    write_folder(path_t, saved_cfg, bf16_state(model_t), tok, "llama-3.2-instruct.jinja", eos, bos)

    for name, template, date in [("tiny-bf16", "llama-3.1-instruct.jinja", None),
                                 ("tiny-fp8", "llama-3.1-instruct.jinja", None),
                                 ("tiny-int8", "llama-3.1-instruct.jinja", None),
                                 ("tiny-bf16-tied", "llama-3.2-instruct.jinja", date32)]:
        results[name] = goldens(os.path.join(models_dir, name), name, tokenizer, tok, template, date)
        json.dump(results[name], open(os.path.join(golden_dir, name + ".json"), "w"))
    open(os.path.join(golden_dir, "perplexity.txt"), "w", encoding="utf-8").write(RECITAL)

    base = results["tiny-bf16"]["logprobs"]
    for name in ("tiny-fp8", "tiny-int8"):
        diff = max(abs(a - b) for a, b in zip(base, results[name]["logprobs"]))
        log("%s vs tiny-bf16: max |dlogprob| %.4f" % (name, diff))
    for name, r in results.items():
        log("%s greedy margins (min per case): %s" % (name, [round(min(g["top2_margins"]), 3) for g in r["greedy"]]))


if __name__ == "__main__":
    main()
