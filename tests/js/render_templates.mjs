// Reference rendering with @huggingface/jinja, for tests/test_chat_template.cpp.
// Usage: node render_templates.mjs CASES.json — CASES is [{"template": ..., "context": {...}}];
// prints one JSON line per case: {"ok": true, "text": ...} or {"ok": false, "error": ...}.
import { readFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";

for (const c of JSON.parse(readFileSync(process.argv[2], "utf8"))) {
  try {
    const text = new Template(c.template).render(c.context);
    process.stdout.write(JSON.stringify({ ok: true, text }) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(e.message ?? e) }) + "\n");
  }
}
