#!/usr/bin/env python3
"""tokenizer_native_diff.py - where llmchat's tokenizer and Python's native tiktoken differ.

    tokenizer_native_diff.py TOKENIZER_JSON BPE_CONFORMANCE OUT_DIR [SIZE_MB]

Splits the benchmark text (bench/make_tokenizer_text.py) into lines and the conformance
corpus into its cases, encodes each with Python tiktoken given Llama 3's ranks and
pattern, and runs tests/tokenizer/bpe_conformance (the same comparison the test suite makes
against npm tiktoken) on them; prints the cases that differ with their code points.
"""
import json, os, subprocess, sys, unicodedata

here = os.path.dirname(os.path.abspath(__file__))
import tiktoken
from llama3_tiktoken import llama3_encoding


def main():
    tokenizer_json, conformance, out_dir = sys.argv[1:4]
    size = sys.argv[4] if len(sys.argv) > 4 else "2"
    enc = llama3_encoding(tokenizer_json)
    print("python unicodedata", unicodedata.unidata_version, "tiktoken", tiktoken.__version__)
    text = subprocess.run([sys.executable, os.path.join(here, "make_tokenizer_text.py"), size],
                          capture_output=True, check=True).stdout.decode("utf-8", "surrogatepass")
    cases = [{"name": "line_%d" % i, "text": line} for i, line in enumerate(text.split("\n")) if line]
    corpus = json.load(open(os.path.join(here, "..", "tests", "tokenizer", "corpus.json"), encoding="utf-8"))
    cases += [c for c in corpus if "\ud800" not in c["text"]]
    expected = []
    for case in cases:
        expected.append(enc.encode(case["text"], disallowed_special=()))
    os.makedirs(out_dir, exist_ok=True)
    json.dump(cases, open(os.path.join(out_dir, "cases.json"), "w"))
    json.dump(expected, open(os.path.join(out_dir, "expected.json"), "w"))
    result = subprocess.run([conformance, tokenizer_json, os.path.join(out_dir, "cases.json"),
                             os.path.join(out_dir, "expected.json")], capture_output=True, text=True)
    lines = result.stdout.splitlines()
    failed = [l for l in lines if l.startswith("1 ")]
    print("cases", len(cases), "failed", len(failed))
    by_name = {c["name"]: c["text"] for c in cases}
    for line in failed[:12]:
        name = line[2:]
        t = by_name.get(name, "")
        odd = sorted({"U+%04X %s %s" % (ord(ch), unicodedata.category(ch), unicodedata.name(ch, "?"))
                      for ch in t if ord(ch) > 0x7F})[:8]
        print(name, repr(t[:80]), odd)
    for l in lines:
        if l.startswith("#"):
            print(l[:300])
            break


if __name__ == "__main__":
    main()
