// Reference tokenisation with @huggingface/tokenizers, for tests/test_tokenizer_hf_diff.cpp.
// Usage: node hf_tokenize.mjs TOKENIZER_DIR CORPUS.json
// Prints one JSON line per corpus string: {"ids": [...], "text": decode(ids)} with
// add_special_tokens false and special tokens kept in the decoded text.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";

const [dir, corpusPath] = process.argv.slice(2);
const json = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
let config = {};
try {
  config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
} catch {}
const tokenizer = new Tokenizer(json, config);
for (const text of JSON.parse(readFileSync(corpusPath, "utf8"))) {
  const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
  // (decode refuses an empty list; the empty text decodes to "")
  const decoded = ids.length ? tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) : "";
  process.stdout.write(JSON.stringify({ ids, text: decoded }) + "\n");
}
