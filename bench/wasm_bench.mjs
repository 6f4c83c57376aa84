// Tokens/s of models compiled for the browser (forge compile --target wasm), measured in headless
// Chromium on loopback: each model's folder is served, its page loaded once per kernel table
// (simd128, then generic for comparison), and REPS generations of N tokens from PROMPT run from an
// empty context, ignoring EOS; prints the median prompt and generation tok/s of each.
//   node bench/wasm_bench.mjs MODEL.gguf [MODEL.gguf ...]
//   (FORGE_BIN=build/release/bin/forge, N=128, REPS=3, CHROMIUM=/usr/bin/chromium)
import { spawnSync } from "node:child_process";
import { statSync } from "node:fs";
import { basename, join } from "node:path";
import { createRequire } from "node:module";
import { generateInPage, serveDir } from "../tests/js/wasm_page.mjs";

const require = createRequire(new URL("../tests/js/package.json", import.meta.url));
const { chromium } = require("playwright-core");
const FORGE_BIN = process.env.FORGE_BIN ?? "build/release/bin/forge";
const N = Number(process.env.N ?? 128), REPS = Number(process.env.REPS ?? 3);
const PROMPT = process.env.PROMPT ?? "Once upon a time there was a little robot who wanted to learn how to paint the sky at night";
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  for (const model of process.argv.slice(2)) {
    const dir = join("models/compiled", basename(model).replace(/\.gguf$/, "") + "-wasm");
    const r = spawnSync(FORGE_BIN, ["compile", "-m", model, "-o", dir, "--target", "wasm", "-c", "1024"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(r.stderr);
    const server = await serveDir(dir);
    const mib = (f) => (statSync(join(dir, f)).size / 2 ** 20).toFixed(1);
    for (const isa of ["simd128", "generic"]) {
      const page = await browser.newPage();
      const runs = [];
      for (let i = 0; i < REPS; ++i)
        runs.push(await generateInPage(page, `${server.url}/?isa=${isa}`, { prompt: PROMPT, n_predict: N, ignore_eos: true, timeout: 600000 }));
      const kernels = (await page.textContent("#meta")).match(/kernels (\w+)/)[1];
      console.log(`${basename(model)} ${kernels}: generation ${median(runs.map((x) => x.genTps)).toFixed(1)} tok/s, ` +
        `prompt ${median(runs.map((x) => x.promptTps)).toFixed(1)} tok/s (${runs[0].generated} tokens, median of ${REPS}); ` +
        `forge.wasm ${mib("forge.wasm")} MiB, weights.bin ${mib("weights.bin")} MiB`);
      await page.close();
    }
    await server.close();
  }
} finally {
  await browser.close();
}
