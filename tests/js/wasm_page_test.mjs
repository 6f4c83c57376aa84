// forge compile --target wasm end to end: a model compiled for the browser, its folder served on
// loopback, the page driven in headless Chromium (Debian's, through playwright-core). Greedy
// generation from the page gives exactly the ids of the model's golden_greedy.json, streamed into
// the page: stories260K (GGUF; the page tokenizes with a vocabulary-only GGUF) and
// TinyStories-656K (safetensors; the page tokenizes with its tokenizer.json) when present.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";
import { FORGE_BIN, MODEL } from "./forge_server.mjs";
import { generateInPage, serveDir } from "./wasm_page.mjs";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const HF_MODEL = join(dirname(MODEL), "../tinystories-656K");
let browser;

before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});
after(async () => {
  await browser?.close();
});

// A page the suite closes in its after hook, before its server.
async function newPage(ctx) {
  const page = await browser.newPage();
  ctx.pages.push(page);
  return page;
}

// Compiles `model` for the browser into a temporary folder and serves it for the tests in fn.
function pageSuite(name, model, goldenPath, tokenizer, fn) {
  describe(name, { skip: !existsSync(model) && `skipped: ${model} not found` }, () => {
    const dir = mkdtempSync(join(tmpdir(), "forge-wasm-"));
    const ctx = { dir, golden: JSON.parse(readFileSync(goldenPath, "utf8")), pages: [] };
    before(async () => {
      const r = spawnSync(FORGE_BIN, ["compile", "-m", model, "-o", dir, "--target", "wasm", "-c", "512"], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      for (const f of ["forge.js", "forge.wasm", "index.html", "weights.bin", tokenizer, "forge.json"])
        assert.ok(existsSync(join(dir, f)), `${f} in the folder`);
      ctx.server = await serveDir(dir);
      ctx.page = await newPage(ctx);
      ctx.page.on("pageerror", (e) => console.error("page error:", e.message));
    });
    after(async () => {
      for (const page of ctx.pages) await page.close();
      await ctx.server?.close();
      rmSync(dir, { recursive: true, force: true });
    });
    for (const c of ctx.golden.cases) {
      test(`greedy from ${JSON.stringify(c.prompt_text)} is the golden ids, streamed into the page`, async () => {
        const r = await generateInPage(ctx.page, ctx.server.url + "/", { prompt: c.prompt_text, n_predict: c.n_new });
        assert.deepEqual(r.ids, c.greedy_ids);
        assert.ok(r.chunks > 3, `the text arrived in ${r.chunks} pieces`);
        assert.ok(r.text.length > c.n_new, "the generated text is in the page");
        assert.equal(r.generated, c.n_new);
      });
    }
    fn?.(ctx);
  });
}

pageSuite("stories260K", MODEL, join(dirname(MODEL), "golden_greedy.json"), "tokenizer.gguf", (ctx) => {
  test("the page names the model and the SIMD128 kernels", async () => {
    assert.equal(await ctx.page.textContent("#model"), "llama");  // stories260K.gguf's general.name
    assert.match(await ctx.page.textContent("#meta"), /5 layers, 64 embedding, 512 vocabulary, context 512, kernels simd128/);
  });

  test("the generic kernel table gives the same greedy ids", async () => {
    const page = await newPage(ctx);
    const c = ctx.golden.cases[1];
    const r = await generateInPage(page, ctx.server.url + "/?isa=generic", { prompt: c.prompt_text, n_predict: c.n_new });
    assert.match(await page.textContent("#meta"), /kernels generic/);
    assert.deepEqual(r.ids, c.greedy_ids);
  });

  test("a missing weights file is an error in the page, not a hang", async () => {
    rmSync(join(ctx.dir, "weights.bin"));
    const page = await newPage(ctx);
    await page.goto(ctx.server.url + "/");
    await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("error"), null, { timeout: 30000 });
    assert.match(await page.textContent("#status"), /weights\.bin: HTTP 404/);
  });
});

pageSuite("TinyStories-656K", HF_MODEL, join(HF_MODEL, "golden_greedy.json"), "tokenizer.json");
