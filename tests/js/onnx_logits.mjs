// Runs a graph from `forge export-onnx` in onnxruntime (CPU) and prints its logits as JSON:
//   node onnx_logits.mjs MODEL.onnx IDS SPLIT
// "whole": every position's logits from one call with an empty past; "split": the first SPLIT
// tokens in one call, then the rest in a second call fed the first's present.* as past_key_values.
import ort from 'onnxruntime-node';

const [model, idsArg, splitArg] = process.argv.slice(2);
const ids = idsArg.split(',').map(BigInt);
const split = Number(splitArg);
const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'] });

function emptyPast() {
  const past = {};
  for (const name of session.inputNames.filter((n) => n.startsWith('past_key_values.'))) {
    const meta = session.inputMetadata.find((m) => m.name === name);
    const [, heads, , headDim] = meta.shape;
    past[name] = new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, headDim]);
  }
  return past;
}

async function run(tokens, first, past) {
  const positions = tokens.map((_, i) => BigInt(first + i));
  const out = await session.run({
    input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens), [1, tokens.length]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from(positions), [1, tokens.length]),
    ...past,
  });
  const [, seq, vocab] = out.logits.dims;
  const rows = [];
  for (let t = 0; t < seq; ++t) rows.push(Array.from(out.logits.data.subarray(t * vocab, (t + 1) * vocab)));
  const present = {};
  for (const [name, value] of Object.entries(out)) if (name.startsWith('present.')) present[name.replace('present.', 'past_key_values.')] = value;
  return { rows, present };
}

const whole = await run(ids, 0, emptyPast());
const a = await run(ids.slice(0, split), 0, emptyPast());
const b = await run(ids.slice(split), split, a.present);
process.stdout.write(JSON.stringify({ whole: whole.rows, split: [...a.rows, ...b.rows] }));
