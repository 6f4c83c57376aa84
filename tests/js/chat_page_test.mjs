// The chat page forge serve answers at /: headless Chromium (Debian's, driven by playwright-core)
// types a message, and the reply streams into the page; with temperature 0 it is the text the API
// gives for the same conversation.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import { startServer } from "./forge_server.mjs";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
let server, browser;

before(async () => {
  server = await startServer(["-c", "256"]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});
after(async () => {
  await browser?.close();
  server?.stop();
});

test("a message typed in the page streams a reply into it", { skip: !existsSync(CHROMIUM) && `skipped: no ${CHROMIUM}` }, async () => {
  const page = await browser.newPage();
  await page.goto(server.url + "/");
  await page.waitForFunction(() => document.getElementById("model").textContent.length > 0);
  assert.equal(await page.textContent("#model"), "stories260K.gguf");
  await page.click("summary");  // open the settings
  await page.fill("#temperature", "0");
  await page.fill("#max_tokens", "40");
  await page.fill("#prompt", "Once upon a time");
  await page.press("#prompt", "Enter");
  await page.waitForFunction(() => document.getElementById("status").textContent === "done", null, { timeout: 30000 });
  const reply = await page.textContent(".msg.assistant");
  // The page counts the streamed pieces it appended (how fast the browser repaints does not matter).
  const chunks = Number(await page.getAttribute(".msg.assistant", "data-chunks"));
  assert.ok(chunks > 3, `the reply arrived in ${chunks} pieces`);
  const api = await (await fetch(server.url + "/v1/chat/completions", {
    method: "POST",
    body: JSON.stringify({ messages: [{ role: "user", content: "Once upon a time" }], temperature: 0, max_tokens: 40 }),
  })).json();
  assert.equal(reply, api.choices[0].message.content);
  assert.ok(reply.length > 0);
});
