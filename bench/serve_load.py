#!/usr/bin/env python3
"""A bounded load generator for `forge serve` (loopback only): N streaming completion requests,
C at a time, each a prompt of P random token ids and exactly M generated tokens (ignore_eos).
Reports throughput, latency percentiles (time to first token, time between streamed chunks,
whole-request latency) and, for a server with --draft, how many guesses were kept. Python's
standard library only, so it runs on the GPU machine too (which has no Node).

  python3 bench/serve_load.py --url http://127.0.0.1:8080 --requests 128 --concurrency 32 \\
      --prompt-tokens 128 --max-tokens 128 [--vocab 256] [--repeat 16] [--api-key KEY]

--repeat R: the prompt is its first R random ids over and over (text that prompt lookup can
find again), instead of P independent ones.
"""
import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=256, help="prompt ids are drawn from [3, vocab)")
    ap.add_argument("--repeat", type=int, default=0)
    ap.add_argument("--api-key", default="")
    a = ap.parse_args()
    url = urllib.parse.urlparse(a.url)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"serve_load: {a.url} is not a loopback address; this generator only loads local servers")
    if not (1 <= a.requests <= 100000 and 1 <= a.concurrency <= 1024 and a.prompt_tokens >= 1 and a.max_tokens >= 1):
        sys.exit("serve_load: need 1 <= requests <= 100000, 1 <= concurrency <= 1024, prompt-tokens and max-tokens >= 1")
    headers = {"Content-Type": "application/json"}
    if a.api_key:
        headers["Authorization"] = "Bearer " + a.api_key
    rng = random.Random(1)
    prompts = []
    for _ in range(a.requests):
        unit = [rng.randrange(3, a.vocab) for _ in range(a.repeat or a.prompt_tokens)]
        prompts.append((unit * (a.prompt_tokens // len(unit) + 1))[: a.prompt_tokens])

    def one(prompt):
        body = json.dumps({"prompt": prompt, "max_tokens": a.max_tokens, "temperature": 0, "ignore_eos": True,
                           "stream": True, "stream_options": {"include_usage": True}})
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=600)
        conn.request("POST", "/v1/completions", body, headers)
        res = conn.getresponse()
        if res.status != 200:
            raise RuntimeError(f"HTTP {res.status}: {res.read()[:200]!r}")
        first = last = None
        gaps, tokens = [], 0
        for line in res:  # server-sent events: "data: {...}" lines
            line = line.strip()
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            j = json.loads(line[6:])
            if j.get("usage"):
                tokens = j["usage"]["completion_tokens"]
            if j.get("choices") and j["choices"][0].get("text"):
                now = time.perf_counter()
                if first is None:
                    first = now
                else:
                    gaps.append(now - last)
                last = now
        conn.close()
        return {"ttft": first - t0, "total": time.perf_counter() - t0, "gaps": gaps, "tokens": tokens}

    results, lock, todo = [], threading.Lock(), list(range(a.requests))

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            r = one(prompts[i])
            with lock:
                results.append(r)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    if len(results) != a.requests:
        sys.exit(f"serve_load: {a.requests - len(results)} requests failed")

    def pct(xs, p):
        s = sorted(xs)
        return s[min(len(s) - 1, int(p / 100 * len(s)))] * 1000 if s else float("nan")

    tokens = sum(r["tokens"] for r in results)
    print(f"serve_load: {a.requests} requests, {a.concurrency} concurrent, prompt {a.prompt_tokens}, generate {a.max_tokens} ({a.url})")
    print(f"  {seconds:.2f} s, {a.requests / seconds:.2f} req/s, {tokens / seconds:.1f} generated tok/s, "
          f"{a.requests * (a.prompt_tokens + a.max_tokens) / seconds:.1f} total tok/s")
    for name, xs in (("time to first token", [r["ttft"] for r in results]),
                     ("time between chunks", [g for r in results for g in r["gaps"]]),
                     ("request latency", [r["total"] for r in results])):
        print(f"  {name:<20} p50 {pct(xs, 50):.1f} ms  p90 {pct(xs, 90):.1f} ms  p99 {pct(xs, 99):.1f} ms")
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
    conn.request("GET", "/metrics")
    metrics = dict(l.rsplit(" ", 1) for l in conn.getresponse().read().decode().splitlines() if l and not l.startswith("#"))
    drafted, kept = float(metrics.get("forge_draft_tokens_total", 0)), float(metrics.get("forge_draft_accepted_tokens_total", 0))
    if drafted:
        print(f"  guesses kept {kept:.0f} / {drafted:.0f} ({100 * kept / drafted:.1f}%) since the server started")


main()
