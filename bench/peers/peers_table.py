#!/usr/bin/env python3
"""peers_table.py - one table of llama.cpp (llama-bench) beside llmchat (--bench) on one GPU.

    peers_table.py --llama-json F [--gguf-info F.json] [--llama-commit C]
                   --llmchat LABEL=FILE [--llmchat LABEL=FILE ...] [--llmchat-version V]
                   [--device NAME] [--shape TEXT] [--json OUT.json]

Reads llama-bench's `-o json` output (a list of tests: n_prompt, n_gen, flash_attn, avg_ts,
model_size, build_commit, gpu_info) and the text llmchat --bench prints (its `ceilings
measured now: copy N GB/s` line, `prefill N tokens` and `decode N, greedy` rows, and
`weights read per decoded token: N GB`).  Prints a Markdown table: per engine and setting,
prefill 512 and 2048 tokens/s, decode tokens/s at 128 context (llama.cpp's tg128: 128
tokens generated from an empty context), the bytes of weights a decoded token reads, those
bytes per second, and their share of the copy bandwidth that llmchat measured in the same
run; then llmchat FP8 over llama.cpp Q8_0 (its best setting) for decode and prefill 2048,
beside the targets (issue 16's >= 2x decode; issue 10's >= 4x prefill 2048).  llmchat's
sampled decode at 128 (temp 0.6 top-p 0.9, the folder defaults of the Llama 3.1 Instruct
models) is a column of its own; llama-bench times generation without a sampler.  What can be read is printed; the
exit status is 1 if an input cannot be read or parsed, or no ratio could be made.
"""
import argparse
import json
import re
import sys

TARGETS = {"decode": 2.0, "prefill_2048": 4.0}


class ParseError(Exception):
	pass


def parse_llmchat(text):
	"""Figures of one llmchat --bench output: copy GB/s, format, prefill {n: tok/s}, greedy decode
	{ctx: tok/s} and sampled decode (temp 0.6 top-p 0.9) {ctx: tok/s}."""
	r = {"prefill": {}, "decode": {}, "decode_sampled": {}}
	m = re.search(r"^llmchat --bench: (.*?), (\S+) weights, (\d+) layers, on (.*)$", text, re.M)
	if m:
		r["model"], r["format"], r["layers"], r["on"] = m.group(1), m.group(2), int(m.group(3)), m.group(4)
	m = re.search(r"ceilings measured now: copy ([\d.]+) GB/s", text)
	if not m:
		raise ParseError("no 'ceilings measured now: copy N GB/s' line")
	r["copy_gbs"] = float(m.group(1))
	for m in re.finditer(r"^prefill (\d+) tokens\s+([\d.]+) ms\s+([\d.]+)", text, re.M):
		r["prefill"][int(m.group(1))] = float(m.group(3))
	for m in re.finditer(r"^decode (\d+), greedy\s+([\d.]+) ms\s+([\d.]+)", text, re.M):
		r["decode"][int(m.group(1))] = float(m.group(3))
	for m in re.finditer(r"^decode (\d+), temp 0\.6 top-p 0\.9\s+([\d.]+) ms\s+([\d.]+)", text, re.M):
		r["decode_sampled"][int(m.group(1))] = float(m.group(3))
	m = re.search(r"weights read per decoded token: ([\d.]+) GB", text)
	if not m:
		raise ParseError("no 'weights read per decoded token' line")
	r["weight_bytes"] = float(m.group(1)) * 1e9
	if 128 not in r["decode"] or 2048 not in r["prefill"]:
		raise ParseError("no 'prefill 2048 tokens' or 'decode 128, greedy' row")
	return r


def parse_llama_bench(tests, weight_bytes):
	"""Rows of llama-bench's JSON tests, one per flash-attention setting."""
	if not isinstance(tests, list) or not tests:
		raise ParseError("llama-bench JSON is not a non-empty list of tests")
	rows = {}
	for t in tests:
		fa = 1 if t.get("flash_attn") else 0
		row = rows.setdefault(fa, {"fa": fa, "prefill": {}, "decode": {}, "commit": t.get("build_commit", "?"),
					  "gpu": t.get("gpu_info", "?"), "model_type": t.get("model_type", "?"),
					  "model_size": t.get("model_size", 0)})
		n_prompt, n_gen, ts = int(t.get("n_prompt", 0)), int(t.get("n_gen", 0)), float(t["avg_ts"])
		if n_gen == 0 and n_prompt > 0:
			row["prefill"][n_prompt] = ts
		elif n_prompt == 0 and n_gen > 0:
			row["decode"][n_gen] = ts
	for row in rows.values():
		row["weight_bytes"] = weight_bytes
		if not row["decode"] or 2048 not in row["prefill"]:
			raise ParseError("llama-bench JSON lacks a tg test or pp2048 (flash_attn=%d)" % row["fa"])
	return [rows[k] for k in sorted(rows)]


def fmt(v, spec):
	return "-" if v is None else format(v, spec)


def table(rows, copy_gbs):
	head = ("| engine | version | format | shape | device | prefill 512 tok/s | prefill 2048 tok/s | "
		"decode tok/s (128 ctx) | sampled, temp 0.6 top-p 0.9 | weight GB/token | weight GB/s | "
		"share of copy %.0f GB/s |" % copy_gbs)
	lines = [head, "|" + " --- |" * 12]
	for r in rows:
		gbs = r["weight_bytes"] * r["decode_ts"] / 1e9 if r["weight_bytes"] else None
		share = 100.0 * gbs / copy_gbs if gbs and copy_gbs else None
		lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
			r["engine"], r["version"], r["format"], r["shape"], r["device"], fmt(r["prefill"].get(512), ".0f"),
			fmt(r["prefill"].get(2048), ".0f"), fmt(r["decode_ts"], ".1f"), fmt(r.get("decode_sampled_ts"), ".1f"),
			fmt(r["weight_bytes"] / 1e9 if r["weight_bytes"] else None, ".2f"), fmt(gbs, ".0f"),
			fmt(share, ".1f") + ("%" if share is not None else "")))
		r["weight_gbs"], r["copy_share_pct"] = gbs, share
	return "\n".join(lines)


def ratios(rows):
	fp8 = next((r for r in rows if r["engine"] == "llmchat" and r["format"].upper().startswith("FP8")), None)
	peers = [r for r in rows if r["engine"] == "llama.cpp"]
	if fp8 is None or not peers:
		return {}, ["(no llmchat FP8 row or no llama.cpp row: no ratios)"]
	best_dec = max(peers, key=lambda r: r["decode_ts"])
	best_pre = max(peers, key=lambda r: r["prefill"].get(2048, 0))
	out = {"decode": fp8["decode_ts"] / best_dec["decode_ts"],
	       "prefill_2048": fp8["prefill"][2048] / best_pre["prefill"][2048]}
	text = []
	for key, best, label in (("decode", best_dec, "decode"), ("prefill_2048", best_pre, "prefill 2048")):
		ok = "meets" if out[key] >= TARGETS[key] else "BELOW"
		text.append("llmchat FP8 / llama.cpp Q8_0 (%s), %s: %.2fx (target >= %.1fx: %s)" %
			    (best["setting"], label, out[key], TARGETS[key], ok))
	return out, text


def load_llama_json(path):
	"""llama-bench's JSON; a run cut short (no closing bracket) keeps its finished tests."""
	with open(path) as f:
		text = f.read()
	try:
		return json.loads(text)
	except ValueError:
		cut = text[:text.rfind("}") + 1]
		return json.loads(cut + "\n]") if cut.lstrip().startswith("[") else json.loads(text)


def build_rows(a, problems):
	rows, copy_gbs = [], 0.0
	info = {}
	if a.gguf_info:
		try:
			with open(a.gguf_info) as f:
				info = json.load(f)
		except (OSError, ValueError) as e:
			problems.append("GGUF figures: %s (no weight bytes for llama.cpp)" % e)
	try:
		tests = load_llama_json(a.llama_json)
		peers = parse_llama_bench(tests, float(info.get("weight_bytes_per_token", 0)))
	except (OSError, ValueError, KeyError, ParseError) as e:
		problems.append("llama-bench: %s" % e)
		peers = []
	for p in peers:
		dec_n = 128 if 128 in p["decode"] else min(p["decode"])
		rows.append({"engine": "llama.cpp", "version": a.llama_commit or p["commit"],
			     "format": "Q8_0, -fa %d" % p["fa"], "shape": a.shape or p["model_type"],
			     "device": a.device or p["gpu"], "setting": "-fa %d" % p["fa"], "prefill": p["prefill"],
			     "decode_ts": p["decode"][dec_n], "weight_bytes": p["weight_bytes"]})
	for spec in a.llmchat:
		label, _, path = spec.partition("=")
		try:
			with open(path) as f:
				r = parse_llmchat(f.read())
		except (OSError, ParseError) as e:
			problems.append("llmchat %s: %s" % (label, e))
			continue
		copy_gbs = copy_gbs or r["copy_gbs"]
		rows.append({"engine": "llmchat", "version": a.llmchat_version or "?", "format": r.get("format", label),
			     "shape": a.shape or r.get("model", "?"), "device": a.device or r.get("on", "?"),
			     "setting": label, "prefill": r["prefill"], "decode_ts": r["decode"][128],
			     "decode_sampled_ts": r["decode_sampled"].get(128),
			     "weight_bytes": r["weight_bytes"], "copy_gbs": r["copy_gbs"]})
	return rows, copy_gbs


def main(argv):
	p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	p.add_argument("--llama-json", required=True)
	p.add_argument("--gguf-info")
	p.add_argument("--llama-commit")
	p.add_argument("--llmchat", action="append", default=[], help="LABEL=FILE of llmchat --bench output")
	p.add_argument("--llmchat-version")
	p.add_argument("--device")
	p.add_argument("--shape")
	p.add_argument("--json", help="also write the figures here")
	a = p.parse_args(argv)
	problems = []
	rows, copy_gbs = build_rows(a, problems)
	for p in problems:
		print("peers_table: %s" % p, file=sys.stderr)
	print(table(rows, copy_gbs))
	print()
	out, text = ratios(rows)
	print("\n".join(text))
	if a.json:
		with open(a.json, "w") as f:
			json.dump({"copy_gbs": copy_gbs, "rows": rows, "ratios": out, "targets": TARGETS,
				   "problems": problems}, f, indent=1)
	return 1 if problems or not out else 0


if __name__ == "__main__":
	sys.exit(main(sys.argv[1:]))
