// A compiled model's `--serve` (forge compile): the same OpenAI API as `forge serve`, from the
// binary forge compile builds for stories260K, answering what `forge run` generates.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { FORGE_BIN, MODEL, startServer } from "./forge_server.mjs";

const dir = mkdtempSync(join(tmpdir(), "forge-compiled-"));
let server, client;

function forge(...args) {
  const r = spawnSync(FORGE_BIN, args, { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

before(async () => {
  forge("compile", "-m", MODEL, "-o", dir, "--name", "story");
  forge("export-weights", "-m", MODEL, "-o", join(dir, "weights.bin"));
  server = await startServer(["-c", "256"], [join(dir, "story"), join(dir, "weights.bin"), MODEL, "--serve"]);
  client = new OpenAI({ baseURL: server.url + "/v1", apiKey: "unused", maxRetries: 0 });
});
after(() => {
  server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("models names the compiled model", async () => {
  const page = await client.models.list();
  assert.equal(page.data.length, 1);
  assert.equal(page.data[0].max_model_len, 256);
});

test("a greedy completion is what forge run generates", async () => {
  const prompt = "Once upon a time";
  const expected = forge("run", "-m", MODEL, "-p", prompt, "-n", "30", "--temp", "0", "--device", "cpu").replace(/\n$/, "");
  const r = await client.completions.create({ model: "m", prompt, max_tokens: 30, temperature: 0 });
  assert.equal(prompt + r.choices[0].text, expected);
  assert.equal(r.usage.completion_tokens, 30);
});

test("chat streams", async () => {
  const stream = await client.chat.completions.create({
    model: "m", messages: [{ role: "user", content: "Tell me a story" }], max_tokens: 12, temperature: 0, stream: true,
  });
  let text = "", chunks = 0;
  for await (const c of stream) {
    text += c.choices[0]?.delta?.content ?? "";
    chunks++;
  }
  assert.ok(chunks >= 3, `${chunks} chunks`);
  assert.ok(text.length > 0);
});
