// What the wasm page test and bench/wasm_bench.mjs share: a static file server for a folder
// forge compile --target wasm wrote (loopback only), and one generation driven through the page.
import { createServer } from "node:http";
import { createReadStream, statSync } from "node:fs";
import { extname, join, normalize } from "node:path";

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };

// Resolves to { url, close() }; serves dir's files with their length (the page streams the
// weights straight into WebAssembly memory when it knows it).
export function serveDir(dir) {
  const server = createServer((req, res) => {
    const rel = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    const path = join(dir, rel === "/" ? "index.html" : rel);
    let size;
    try {
      size = statSync(path).size;
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "Content-Type": TYPES[extname(path)] ?? "application/octet-stream", "Content-Length": size });
    createReadStream(path).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({
    url: `http://127.0.0.1:${server.address().port}`,
    // close() alone waits for every open connection to end, and Chromium may hold one the page
    // opened speculatively and never sent a request on (so it is not idle and never times out):
    // the test's after hook then hangs until ctest kills it. Closing them all ends it at once.
    close: () => new Promise((r) => {
      server.close(r);
      server.closeAllConnections();
    }),
  })));
}

// Opens the page (once per page object), waits for the model, generates with the given settings
// and resolves to { text, ids, chunks, promptTps, genTps, generated } as the page shows them.
// url: the page's, with its query (?isa=generic).
export async function generateInPage(page, url, { prompt, n_predict, temperature = 0, seed = 0, ignore_eos = false, timeout = 120000 }) {
  if (page.url() !== url) await page.goto(url);
  await page.waitForFunction(() => ["ready", "done"].includes(document.getElementById("status").textContent) ||
    document.getElementById("status").textContent.startsWith("error"), null, { timeout });
  const status = await page.textContent("#status");
  if (status.startsWith("error")) throw new Error("the page says " + status);
  await page.fill("#prompt", prompt);
  await page.fill("#n_predict", String(n_predict));
  await page.fill("#temperature", String(temperature));
  await page.fill("#seed", String(seed));
  await page.setChecked("#ignore_eos", ignore_eos);
  await page.click("#generate");
  await page.waitForFunction(() => ["done"].includes(document.getElementById("status").textContent) ||
    document.getElementById("status").textContent.startsWith("error"), null, { timeout });
  const after = await page.textContent("#status");
  if (after !== "done") throw new Error("the page says " + after);
  return page.evaluate(() => {
    const $ = (id) => document.getElementById(id);
    const ids = $("ids").textContent.trim();
    return {
      text: $("output").textContent,
      ids: ids ? ids.split(" ").map(Number) : [],
      chunks: Number($("output").dataset.chunks),
      promptTps: Number($("stats").dataset.promptTps),
      genTps: Number($("stats").dataset.genTps),
      generated: Number($("stats").dataset.generated),
    };
  });
}
