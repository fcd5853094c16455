// check_tokenizer.cjs - the goldens' token ids, which Hugging Face tokenizers
// made, against a direct tiktoken-style BPE over the tiny vocabulary's ranks.
//
//   node tests/models/check_tokenizer.cjs
//
// For each tiny model: npm tiktoken (WASM build of tiktoken's Rust core) given
// ranks 0..2047 of the folder's tokenizer.json, Llama 3's pattern and the 256
// special tokens must encode the recital to the golden text_ids (after BOS) and
// each chat prompt, rendered from the folder's chat template by
// @huggingface/jinja, to the golden prompt_ids; the "Who are you?" continuation
// must decode to chat_answer_text followed by <|eot_id|>.  Needs the npm
// reference packages (tests/npm/node_modules, which tests/run installs).
"use strict";
const fs = require("fs");
const path = require("path");
const root = path.join(__dirname, "..", "..");
const npmRequire = require("module").createRequire(path.join(root, "tests", "npm", "package.json"));
const { Template } = npmRequire("@huggingface/jinja");
const { specialTokens, llama3Encoder } = require(path.join(root, "tests", "tokenizer", "llama3_tiktoken.cjs"));
const BOS = 2048;
const EOT = 2057;
let failed = 0;

function check(ok, what) {
  console.log((ok ? "ok     " : "not ok ") + what);
  if (!ok) failed++;
}

const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

// The Llama 3.2 template asks strftime_now for the date; the golden names the
// date it was rendered with, and @huggingface/jinja's own strftime_now cannot be
// replaced, so the date goes into the template's text.
function template(source, date) {
  return new Template(date ? source.replace(/strftime_now\("%d %b %Y"\)/g, JSON.stringify(date)) : source);
}

function checkModel(name) {
  const dir = path.join(root, "tests", "data", "models", name);
  const tokenizer = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
  const config = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8"));
  const golden = JSON.parse(fs.readFileSync(path.join(root, "tests", "data", "golden", name + ".json"), "utf8"));
  const enc = llama3Encoder(tokenizer, specialTokens(tokenizer));
  const chat = template(config.chat_template, golden.chat_template_date);
  const textIds = Array.from(enc.encode_ordinary(golden.text));
  check(golden.text_ids[0] === BOS && same(textIds, golden.text_ids.slice(1)),
    `${name}: tiktoken over the ranks encodes the recital (${textIds.length} tokens) as tokenizers did`);
  for (const c of golden.greedy) {
    if (!c.prompt.startsWith("chat: ")) continue;
    const rendered = chat.render({ messages: [{ role: "user", content: c.prompt.slice(6) }],
      bos_token: config.bos_token, add_generation_prompt: true });
    check(same(Array.from(enc.encode(rendered, "all")), c.prompt_ids),
      `${name}: "${c.prompt.slice(6)}" rendered by the folder's template and encoded by tiktoken (${c.prompt_ids.length} ids) as tokenizers did`);
    if (c.prompt === "chat: Who are you?") {
      const answer = new TextDecoder().decode(enc.decode(Uint32Array.from(c.continuation_ids.slice(0, -1))));
      check(answer === golden.chat_answer_text && c.continuation_ids[c.continuation_ids.length - 1] === EOT,
        `${name}: the answer decodes to chat_answer_text, then <|eot_id|>`);
    }
  }
  enc.free();
}

for (const name of ["tiny-bf16", "tiny-fp8", "tiny-int8", "tiny-bf16-tied"]) checkModel(name);
console.log(`${failed} failed`);
process.exit(failed ? 1 : 0);
