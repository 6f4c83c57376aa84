// End-to-end tests of `forge serve` on stories260K (CPU), with the official `openai` npm client
// where a client would use it and raw fetch for what clients never send (broken JSON, bad
// bytes). Run by ctest (tests/CMakeLists.txt): FORGE_BIN and FORGE_MODEL name the binary and model.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startServer, metrics, waitForMetrics, MODEL } from "./forge_server.mjs";

const STORY = ", there was a little girl named Lily. She loved to play outside in the park.";
let server, client;

before(async () => {
  server = await startServer(["-c", "256", "--parallel", "64"]);
  client = new OpenAI({ baseURL: server.url + "/v1", apiKey: "unused", maxRetries: 0 });
});
after(() => server.stop());

const post = (path, body, headers = {}) =>
  fetch(server.url + path, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body });

test("models lists the model with its context", async () => {
  const page = await client.models.list();
  assert.equal(page.data.length, 1);
  assert.equal(page.data[0].id, "stories260K.gguf");
  assert.equal(page.data[0].max_model_len, 256);
});

test("completions: greedy text, usage, streaming gives the same text", async () => {
  const r = await client.completions.create({ model: "m", prompt: "Once upon a time", max_tokens: 20, temperature: 0 });
  assert.ok(STORY.startsWith(r.choices[0].text), r.choices[0].text);
  assert.equal(r.choices[0].finish_reason, "length");
  assert.deepEqual(r.usage, { prompt_tokens: 5, completion_tokens: 20, total_tokens: 25 });
  const stream = await client.completions.create({
    model: "m", prompt: "Once upon a time", max_tokens: 20, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = "", usage = null, finish = null, chunks = 0;
  for await (const c of stream) {
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) { text += ch.text; finish = ch.finish_reason ?? finish; }
    chunks++;
  }
  assert.equal(text, r.choices[0].text);
  assert.ok(chunks > 10, "streamed in pieces");
  assert.equal(finish, "length");
  assert.deepEqual(usage, r.usage);
});

test("chat completions: streaming and not agree; role chunk first", async () => {
  const messages = [{ role: "system", content: "Tell a story." }, { role: "user", content: "Once upon a time" }];
  const r = await client.chat.completions.create({ model: "m", messages, max_tokens: 16, temperature: 0 });
  assert.equal(r.object, "chat.completion");
  assert.equal(r.choices[0].message.role, "assistant");
  assert.ok(r.choices[0].message.content.length > 0);
  assert.equal(r.usage.completion_tokens, 16);
  const stream = await client.chat.completions.create({ model: "m", messages, max_tokens: 16, temperature: 0, stream: true });
  let text = "", first = null;
  for await (const c of stream) {
    first ??= c.choices[0].delta;
    text += c.choices[0]?.delta?.content ?? "";
  }
  assert.equal(first.role, "assistant");
  assert.equal(text, r.choices[0].message.content);
});

test("stop strings end the text before them", async () => {
  const r = await client.completions.create({ model: "m", prompt: "Once upon a time", max_tokens: 40, temperature: 0, stop: ["Lily", "zzz"] });
  assert.equal(r.choices[0].text, ", there was a little girl named ");
  assert.equal(r.choices[0].finish_reason, "stop");
  const s = await client.chat.completions.create({
    model: "m", messages: [{ role: "user", content: "x" }], max_tokens: 40, temperature: 0, stop: "e", stream: true,
  });
  let text = "", finish = null;
  for await (const c of s) { text += c.choices[0]?.delta?.content ?? ""; finish = c.choices[0]?.finish_reason ?? finish; }
  assert.ok(!text.includes("e"), text);
  assert.equal(finish, "stop");
});

test("logprobs: the greedy token is the most likely one", async () => {
  const r = await client.chat.completions.create({
    model: "m", messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3,
  });
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, 6);
  for (const t of content) {
    assert.ok(t.logprob <= 0);
    assert.equal(t.top_logprobs.length, 3);
    assert.equal(t.top_logprobs[0].token, t.token);
    assert.ok(Math.abs(t.top_logprobs[0].logprob - t.logprob) < 1e-6);
  }
  const c = await client.completions.create({ model: "m", prompt: "Once upon a time", max_tokens: 4, temperature: 0, logprobs: 2 });
  assert.equal(c.choices[0].logprobs.tokens.join(""), c.choices[0].text);
});

test("seeded sampling repeats; logit_bias bans a token", async () => {
  const ask = (extra) => client.completions.create({ model: "m", prompt: "Once upon a time", max_tokens: 24, temperature: 1, top_p: 0.9, ...extra });
  const a = await ask({ seed: 42 }), b = await ask({ seed: 42 });
  assert.equal(a.choices[0].text, b.choices[0].text);
  // The id of the "," greedy decoding puts after the prompt: the extra token of the longer text.
  const tokenize = async (prompt) => (await (await post("/tokenize", JSON.stringify({ prompt }))).json()).tokens;
  const comma = (await tokenize("Once upon a time,")).at(-1);
  assert.equal((await tokenize("Once upon a time")).length + 1, (await tokenize("Once upon a time,")).length);
  const banned = await client.completions.create({
    model: "m", prompt: "Once upon a time", max_tokens: 8, temperature: 0, logit_bias: { [comma]: -100 },
  });
  assert.ok(!banned.choices[0].text.startsWith(","), banned.choices[0].text);
});

test("tokenize and detokenize round-trip", async () => {
  const t = await (await post("/tokenize", JSON.stringify({ prompt: "Once upon a time" }))).json();
  assert.deepEqual(t.tokens.slice(0, 1), [1]);  // BOS
  const d = await (await post("/detokenize", JSON.stringify({ tokens: t.tokens.slice(1) }))).json();
  assert.equal(d.prompt, "Once upon a time");
});

test("bad requests get 4xx in OpenAI's error shape and the server keeps serving", async () => {
  const cases = [
    ["/v1/chat/completions", '{"messages": [{"role": "user", "content": "hi"}', "truncated JSON"],
    ["/v1/chat/completions", '{"messages": []}', "empty messages"],
    ["/v1/chat/completions", '{"messages": "hi"}', "messages not a list"],
    ["/v1/chat/completions", '{"messages": [{"content": "hi"}]}', "message without role"],
    ["/v1/completions", '{"prompt": "hi", "temperature": "hot"}', "wrong type"],
    ["/v1/completions", '{"prompt": "hi", "max_tokens": -3}', "negative max_tokens"],
    ["/v1/completions", '{"prompt": "hi", "max_tokens": 100000000}', "huge max_tokens"],
    ["/v1/completions", '{"prompt": "hi", "max_tokens": 1e400}', "number out of range"],
    ["/v1/completions", '{"prompt": "hi", "n": 2}', "n > 1"],
    ["/v1/completions", '{"prompt": [1, 99999]}', "token id out of the vocabulary"],
    ["/v1/completions", '{"prompt": "hi", "logit_bias": {"abc": 1}}', "bad logit_bias key"],
    ["/v1/completions", '[1, 2]', "not an object"],
    ["/v1/completions", "", "empty body"],
  ];
  for (const [path, body, what] of cases) {
    const r = await post(path, body);
    assert.ok(r.status >= 400 && r.status < 500, `${what}: ${r.status}`);
    const j = await r.json();
    assert.equal(typeof j.error.message, "string", what);
    assert.equal(j.error.type, "invalid_request_error", what);
  }
  // Invalid UTF-8 inside a string.
  const bytes = Buffer.concat([Buffer.from('{"prompt": "ab'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
  assert.equal((await post("/v1/completions", bytes)).status, 400);
  // The numbers of an over-long prompt.
  const long = "Once upon a time ".repeat(80);
  const r = await post("/v1/completions", JSON.stringify({ prompt: long, max_tokens: 10 }));
  assert.equal(r.status, 400);
  assert.match((await r.json()).error.message, /maximum context length is 256 tokens.*your prompt is \d+ tokens/);
  const huge = await post("/v1/completions", JSON.stringify({ prompt: "Once", max_tokens: 1000 }));
  assert.match((await huge.json()).error.message, /requested 1002 tokens \(2 in the prompt, 1000 in the completion\)/);
  assert.equal((await post("/v1/nothing", "{}")).status, 404);
  // Still serving.
  const ok = await client.completions.create({ model: "m", prompt: "Once upon a time", max_tokens: 5, temperature: 0 });
  assert.equal(ok.usage.completion_tokens, 5);
});

test("32 concurrent streams each equal their single-request output; KV blocks return to zero", async () => {
  const prompts = ["Once upon a time", "Lily and Tom", "The dog", "One day", "A little bird", "The sun was", "Tim had a", "There was a big"];
  const reqs = Array.from({ length: 32 }, (_, i) => ({ prompt: prompts[i % 8], max_tokens: 24 + (i % 5) * 8 }));
  const run = async (q) => {
    const s = await client.completions.create({ model: "m", ...q, temperature: 0, stream: true });
    let text = "";
    for await (const c of s) text += c.choices[0]?.text ?? "";
    return text;
  };
  const alone = [];
  for (const q of reqs) alone.push(await run(q));
  const before = await metrics(server.url);
  const together = await Promise.all(reqs.map(run));
  for (let i = 0; i < reqs.length; i++) assert.equal(together[i], alone[i], `request ${i}: ${JSON.stringify(reqs[i])}`);
  const m = await waitForMetrics(server.url, (m) => m["forge_kv_blocks_used"] === 0 && m["forge_running_requests"] === 0);
  assert.equal(m['forge_requests_total{outcome="ok"}'] - before['forge_requests_total{outcome="ok"}'], 32);
  assert.ok(m["forge_engine_steps_total"] - before["forge_engine_steps_total"] < 32 * 24, "requests shared steps");
});

test("--draft (a draft model, prompt lookup): 16 concurrent streams give the text without guesses", async () => {
  const prompts = ["Once upon a time", "Lily and Tom", "The cat sat on the mat. The cat sat on the mat. The cat", "One day"];
  const reqs = Array.from({ length: 16 }, (_, i) => ({ prompt: prompts[i % 4], max_tokens: 24 + (i % 3) * 16 }));
  const run = (c) => async (q) => {
    const s = await c.completions.create({ model: "m", ...q, temperature: 0, stream: true });
    let text = "";
    for await (const ch of s) text += ch.choices[0]?.text ?? "";
    return text;
  };
  const want = await Promise.all(reqs.map(run(client)));
  for (const draft of [MODEL, "ngram"]) {
    const drafted = await startServer(["-c", "256", "--draft", draft, "--draft-n", "3"]);
    try {
      assert.match(drafted.stderr(), /speculative: 3 guesses from/);
      const c = new OpenAI({ baseURL: drafted.url + "/v1", apiKey: "x", maxRetries: 0 });
      const got = await Promise.all(reqs.map(run(c)));
      for (let i = 0; i < reqs.length; i++) assert.equal(got[i], want[i], `--draft ${draft}, request ${i}`);
      const m = await waitForMetrics(drafted.url, (m) => m["forge_kv_blocks_used"] === 0 && m["forge_running_requests"] === 0);
      assert.ok(m["forge_draft_tokens_total"] > 0, "guesses were checked");
      assert.ok(m["forge_draft_accepted_tokens_total"] > 0, "some were right");
      if (draft === MODEL) assert.ok(m["forge_draft_accepted_tokens_total"] > 0.9 * m["forge_draft_tokens_total"], "a model agrees with itself");
    } finally {
      drafted.stop();
    }
  }
});

test("a client that disconnects stops its generation and frees its blocks", async () => {
  const before = await metrics(server.url);
  const controller = new AbortController();
  const s = await client.completions.create(
    { model: "m", prompt: "Once upon a time", max_tokens: 230, temperature: 0, ignore_eos: true, stream: true },
    { signal: controller.signal });
  let n = 0;
  try {
    for await (const _ of s) if (++n === 3) controller.abort();
  } catch (e) {
    assert.ok(controller.signal.aborted, String(e));
  }
  const m = await waitForMetrics(server.url, (m) =>
    m['forge_requests_total{outcome="cancelled"}'] === before['forge_requests_total{outcome="cancelled"}'] + 1 &&
    m["forge_kv_blocks_used"] === 0);
  assert.ok(m["forge_generation_tokens_total"] - before["forge_generation_tokens_total"] < 230, "stopped early");
});

test("API key: missing or wrong is 401, right one works; /health stays open", async () => {
  const keyed = await startServer(["--api-key", "sesame"]);
  try {
    const wrong = new OpenAI({ baseURL: keyed.url + "/v1", apiKey: "nope", maxRetries: 0 });
    await assert.rejects(wrong.models.list(), (e) => e.status === 401 && /API key/.test(e.message));
    const none = await fetch(keyed.url + "/v1/models");
    assert.equal(none.status, 401);
    assert.equal((await none.json()).error.code, "invalid_api_key");
    const right = new OpenAI({ baseURL: keyed.url + "/v1", apiKey: "sesame", maxRetries: 0 });
    const r = await right.completions.create({ model: "m", prompt: "Once", max_tokens: 3, temperature: 0 });
    assert.equal(r.usage.completion_tokens, 3);
    assert.equal((await fetch(keyed.url + "/health")).status, 200);
  } finally {
    keyed.stop();
  }
});

test("overload answers 503 with Retry-After; SIGTERM lets the running request finish and exits 0", async () => {
  const small = await startServer(["--max-queue", "1", "--grace", "20"]);
  try {
    const c = new OpenAI({ baseURL: small.url + "/v1", apiKey: "x", maxRetries: 0 });
    const stream = await c.completions.create({ model: "m", prompt: "Once", max_tokens: 200, temperature: 0, ignore_eos: true, stream: true });
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    const r = await fetch(small.url + "/v1/completions", { method: "POST", body: JSON.stringify({ prompt: "Once", max_tokens: 2 }) });
    assert.equal(r.status, 503);
    assert.equal(r.headers.get("retry-after"), "1");
    small.proc.kill("SIGTERM");
    let finish = null, n = 1;
    for (let x = await it.next(); !x.done; x = await it.next()) {
      n++;
      finish = x.value.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(finish, "length", "the in-flight request completed");
    const { code } = await small.exited;
    assert.equal(code, 0, small.stderr());
    assert.match(small.stderr(), /SIGTERM/);
  } finally {
    small.stop();
  }
});
