// llama3_tiktoken.cjs - a Llama 3 tokenizer.json as npm tiktoken (the WASM build of
// tiktoken's Rust core) takes it, for the scripts that use tiktoken as the reference
// encoder: tests/tokenizer/reference.cjs, tests/models/check_tokenizer.cjs and
// bench/tokenizer_wasm.cjs.  Resolves npm packages as tests/npm sees them.
//
//   LLAMA3_PATTERN            the pre-tokenizer's regex
//   tiktokenRanks(tokenizer)  the byte-level vocabulary as a tiktoken ranks file
//                             ("BASE64 ID" lines, in id order)
//   specialTokens(tokenizer)  the added tokens, content -> id
//   llama3Encoder(tokenizer, specials)  a Tiktoken over the ranks, the pattern and
//                             specials ({} for none); free() it when done
"use strict";
const path = require("path");
const npmRequire = require("module").createRequire(path.join(__dirname, "..", "npm", "package.json"));
const { Tiktoken } = npmRequire("tiktoken/lite");

const LLAMA3_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// GPT-2's byte-to-unicode table, inverted: character -> byte.
function byteLevelDecoder() {
  const map = new Map();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    map.set(String.fromCodePoint(printable ? b : 256 + extra++), b);
  }
  return (s) => Buffer.from(Array.from(s, (ch) => {
    const b = map.get(ch);
    if (b === undefined) throw new Error("not a byte-level token: " + s);
    return b;
  }));
}

function tiktokenRanks(tokenizer) {
  const decode = byteLevelDecoder();
  const lines = Object.entries(tokenizer.model.vocab)
    .sort((a, b) => a[1] - b[1])
    .map(([token, id]) => decode(token).toString("base64") + " " + id);
  return lines.join("\n") + "\n";
}

function specialTokens(tokenizer) {
  const specials = {};
  for (const t of tokenizer.added_tokens) specials[t.content] = t.id;
  return specials;
}

function llama3Encoder(tokenizer, specials) {
  return new Tiktoken(tiktokenRanks(tokenizer), specials, LLAMA3_PATTERN);
}

module.exports = { LLAMA3_PATTERN, tiktokenRanks, specialTokens, llama3Encoder };
