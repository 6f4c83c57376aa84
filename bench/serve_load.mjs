#!/usr/bin/env node
// A bounded load generator for `forge serve` (loopback only): N streaming completion requests,
// C at a time, each a prompt of P random token ids and exactly M generated tokens (ignore_eos).
// Reports throughput and latency percentiles: time to first token, time between tokens, and
// whole-request latency.
//
//   node bench/serve_load.mjs --url http://127.0.0.1:8080 --requests 128 --concurrency 32 \
//        --prompt-tokens 128 --max-tokens 128 [--vocab 256] [--api-key KEY]
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const url = args.url ?? "http://127.0.0.1:8080";
const N = Number(args.requests ?? 64), C = Number(args.concurrency ?? 8);
const P = Number(args["prompt-tokens"] ?? 128), M = Number(args["max-tokens"] ?? 128);
const host = new URL(url).hostname;
if (!["127.0.0.1", "localhost", "::1", "[::1]"].includes(host)) {
  console.error(`serve_load: ${url} is not a loopback address; this generator only loads local servers`);
  process.exit(2);
}
if (!(N >= 1 && N <= 100000 && C >= 1 && C <= 1024 && P >= 1 && M >= 1)) {
  console.error("serve_load: need 1 <= requests <= 100000, 1 <= concurrency <= 1024, prompt-tokens and max-tokens >= 1");
  process.exit(2);
}
const headers = { "Content-Type": "application/json" };
if (args["api-key"]) headers.Authorization = "Bearer " + args["api-key"];

const vocab = Number(args.vocab ?? 256);  // prompt ids are drawn from [3, vocab)
let seed = 1;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);

async function one() {
  const prompt = Array.from({ length: P }, () => 3 + Math.floor(rand() * (vocab - 3)));
  const t0 = performance.now();
  const res = await fetch(url + "/v1/completions", {
    method: "POST", headers,
    body: JSON.stringify({ prompt, max_tokens: M, temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body.getReader(), dec = new TextDecoder();
  let buf = "", first = null, last = null, tokens = 0;
  const gaps = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let end;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const line = buf.slice(0, end);
      buf = buf.slice(end + 2);
      if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
      const j = JSON.parse(line.slice(6));
      if (j.usage) tokens = j.usage.completion_tokens;
      if (j.choices?.[0]?.text) {
        const now = performance.now();
        if (first === null) first = now; else gaps.push(now - last);
        last = now;
      }
    }
  }
  return { ttft: first - t0, total: performance.now() - t0, gaps, tokens };
}

const results = [];
let next = 0;
const t0 = performance.now();
await Promise.all(Array.from({ length: C }, async () => {
  while (next < N) {
    next++;
    results.push(await one());
  }
}));
const seconds = (performance.now() - t0) / 1000;
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]; };
const tokens = results.reduce((a, r) => a + r.tokens, 0);
const ttft = results.map((r) => r.ttft), total = results.map((r) => r.total), gaps = results.flatMap((r) => r.gaps);
console.log(`serve_load: ${N} requests, ${C} concurrent, prompt ${P}, generate ${M} (${url})`);
console.log(`  ${seconds.toFixed(2)} s, ${(N / seconds).toFixed(2)} req/s, ${(tokens / seconds).toFixed(1)} generated tok/s, ${(N * (P + M) / seconds).toFixed(1)} total tok/s`);
for (const [name, xs] of [["time to first token", ttft], ["time between tokens", gaps], ["request latency", total]])
  console.log(`  ${name.padEnd(20)} p50 ${pct(xs, 50).toFixed(1)} ms  p90 ${pct(xs, 90).toFixed(1)} ms  p99 ${pct(xs, 99).toFixed(1)} ms`);
