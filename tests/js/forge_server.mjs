// Starts `forge serve` on a free loopback port for the end-to-end tests and stops it again.
import { spawn } from "node:child_process";

export const FORGE_BIN = process.env.FORGE_BIN;
export const MODEL = process.env.FORGE_MODEL;

// Resolves to { url, proc, stderr(), stop() } once the server prints its address. command: the
// server and its first arguments (default `forge serve -m MODEL`; a compiled binary's `--serve`).
export function startServer(extra = [], command = [FORGE_BIN, "serve", "-m", MODEL]) {
  const args = [...command.slice(1), "--port", "0", "-t", "2", ...extra];
  const proc = spawn(command[0], args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("forge serve did not start:\n" + log)), 60000);
    proc.stderr.on("data", (d) => {
      log += d;
      const m = log.match(/listening on (http:\/\/[0-9.]+:\d+)/);
      if (m && timer) {
        clearTimeout(timer);
        resolve({
          url: m[1],
          proc,
          stderr: () => log,
          exited: new Promise((r) => proc.on("exit", (code, signal) => r({ code, signal }))),
          stop() { proc.kill("SIGKILL"); },
        });
      }
    });
    proc.on("exit", (code) => reject(new Error(`forge serve exited (${code}):\n${log}`)));
  });
}

// Prometheus text -> { "name{labels}": value }.
export async function metrics(url) {
  const text = await (await fetch(url + "/metrics")).text();
  const out = {};
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

// Polls until check(metrics) is true (or throws after ms).
export async function waitForMetrics(url, check, ms = 10000) {
  const end = Date.now() + ms;
  let m;
  while (Date.now() < end) {
    m = await metrics(url);
    if (check(m)) return m;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("metrics never matched: " + JSON.stringify(m));
}
