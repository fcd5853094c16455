// tokenizer_wasm.cjs - npm tiktoken (WASM build of tiktoken's Rust core) encoding
// a file with Llama 3's ranks and pattern: the reference for bench/tokenizer.sh.
//
//   node bench/tokenizer_wasm.cjs TOKENIZER_JSON TEXT_FILE [IDS_OUT]
//
// Prints "load_ms MS", "bytes N", "ids N", "mb_per_s X" (encode_ordinary, one
// thread, best of three runs); with IDS_OUT also writes the ids on one line.
"use strict";
const fs = require("fs");
const path = require("path");
const { llama3Encoder } = require(path.join(__dirname, "..", "tests", "tokenizer", "llama3_tiktoken.cjs"));

const [tokenizerPath, textPath, idsPath] = process.argv.slice(2);
const t0 = process.hrtime.bigint();
const tokenizer = JSON.parse(fs.readFileSync(tokenizerPath, "utf8"));
const enc = llama3Encoder(tokenizer, {});
const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
const text = fs.readFileSync(textPath, "utf8");
const bytes = Buffer.byteLength(text, "utf8");
let best = Infinity, ids = null;
for (let run = 0; run < 3; run++) {
  const t = process.hrtime.bigint();
  ids = enc.encode_ordinary(text);
  best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e9);
}
enc.free();
if (idsPath) fs.writeFileSync(idsPath, ids.join(" ") + "\n");
console.log("load_ms " + loadMs.toFixed(1));
console.log("bytes " + bytes);
console.log("ids " + ids.length);
console.log("mb_per_s " + (bytes / best / 1e6).toFixed(2));
