// The end of forge.js (emscripten --post-js): the Web Worker side of index.html. It answers
//   {type: "load", weights, tokenizer, ctx, isa}  fetches the weights file straight into memory the
//       module allocates (reporting {type: "progress", loaded, total}) and the tokenizer into the
//       module's file system, then forge_load; answers {type: "loaded", info, seconds}
//   {type: "generate", prompt, n_predict, temperature, top_k, top_p, seed, ignore_eos}  forge_generate, with
//       {type: "text", text} for each printable piece, then {type: "done", result}
// and {type: "error", message} when anything fails.

const forgeReady = new Promise((resolve) => addOnPostRun(resolve));  // after main() registered the model

function forgeCall(name, types, args) {
  const reply = JSON.parse(ccall(name, "string", types, args));
  if (reply.error) throw new Error(reply.error);
  return reply;
}

// The response body in memory from _malloc: [pointer, bytes]. Read chunk by chunk into place
// when the size is known, so a large file is never held twice.
async function forgeFetchInto(url, onProgress) {
  const resp = await fetch(url);
  if (!resp.ok) throw new Error(`${url}: HTTP ${resp.status} ${resp.statusText}`);
  const total = Number(resp.headers.get("Content-Length")) || 0;
  const encoded = resp.headers.get("Content-Encoding");  // then Content-Length is not the body's size
  const alloc = (n) => {
    const ptr = _malloc(Math.max(n, 1)) >>> 0;  // unsigned: past 2 GiB an i32 would read as negative
    if (!ptr) throw new Error(`${url}: ${n} bytes do not fit in the browser's WebAssembly memory`);
    return ptr;
  };
  if (!total || (encoded && encoded !== "identity") || !resp.body) {
    const bytes = new Uint8Array(await resp.arrayBuffer());
    const ptr = alloc(bytes.length);
    HEAPU8.set(bytes, ptr);
    onProgress(bytes.length, bytes.length);
    return [ptr, bytes.length];
  }
  const ptr = alloc(total);
  let off = 0;
  try {
    const reader = resp.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (off + value.length > total) throw new Error(`${url}: longer than its Content-Length ${total}`);
      HEAPU8.set(value, ptr + off);  // HEAPU8 read each time: the memory may have grown meanwhile
      off += value.length;
      onProgress(off, total);
    }
    if (off !== total) throw new Error(`${url}: ${off} of ${total} bytes arrived`);
  } catch (e) {
    _free(ptr);
    throw e;
  }
  return [ptr, total];
}

Module.onText = (text) => postMessage({ type: "text", text });

onmessage = async (event) => {
  const msg = event.data;
  try {
    await forgeReady;
    if (msg.type === "load") {
      const t0 = performance.now();
      const tok = await fetch(msg.tokenizer);
      if (!tok.ok) throw new Error(`${msg.tokenizer}: HTTP ${tok.status} ${tok.statusText}`);
      const tokPath = "/" + msg.tokenizer.split("/").pop();
      FS.writeFile(tokPath, new Uint8Array(await tok.arrayBuffer()));
      const [ptr, n] = await forgeFetchInto(msg.weights, (loaded, total) => postMessage({ type: "progress", loaded, total }));
      // forge_load owns ptr now. isa: a kernel table by name (generic, simd128), or the best.
      forgeCall("forge_load", ["number", "number", "string", "number", "string"], [ptr, n, tokPath, msg.ctx || 0, msg.isa || ""]);
      postMessage({ type: "loaded", info: forgeCall("forge_info", [], []), seconds: (performance.now() - t0) / 1000 });
    } else if (msg.type === "generate") {
      const result = forgeCall("forge_generate", ["string", "number", "number", "number", "number", "number", "number"],
        [msg.prompt, msg.n_predict, msg.temperature, msg.top_k, msg.top_p, msg.seed, msg.ignore_eos ? 1 : 0]);
      postMessage({ type: "done", result });
    }
  } catch (e) {
    postMessage({ type: "error", message: String(e && e.message ? e.message : e) });
  }
};
