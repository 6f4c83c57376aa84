#!/usr/bin/env python3
"""forge export-onnx vs forge itself, through onnxruntime, logits in F32.

Runs on the GPU machine (onnxruntime, PyTorch and transformers are installed there): exports
stories260K (GGUF, Q/K rows in GGUF's rotary order), TinyStories-656K (safetensors) and tiny
random Qwen2 (biases, tied embeddings) and Qwen3 (Q/K norms) models made with transformers, runs
each graph in onnxruntime (CPU) and compares with `forge logits` (CPU, F32 KV cache):
  - the whole prompt in one call (past of length 0);
  - the prompt split in two calls, the second fed the first's present.* as past_key_values.
Passes when the relative L2 error ||onnx - forge|| / ||forge|| is below 1e-4 for F32 weights and
below 1e-2 for --f16 weights.

usage: python3 tests/device/compare_onnx.py FORGE_BIN SHARED_DIR [OUT_DIR]
"""
import json
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort
import torch
from transformers import AutoConfig, AutoModelForCausalLM

VOCAB = 256
BASE = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=256)
RANDOM = [("qwen2-tied-biases", "qwen2", dict(tie_word_embeddings=True)),
          ("qwen3-qk-norm", "qwen3", dict(head_dim=32, tie_word_embeddings=False))]


def random_model(out_dir, label, model_type, overrides, seed):
    cfg = AutoConfig.for_model(model_type, **{**BASE, **overrides})
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            centre = 1.0 if ("norm" in name and name.endswith("weight")) else 0.0
            p.copy_(centre + (0.2 if centre else 0.08) * torch.randn(p.shape, generator=g))
    path = f"{out_dir}/{label}"
    model.save_pretrained(path, safe_serialization=True)
    return path


def forge_logits(forge, model, ids):
    run = subprocess.run([forge, "logits", "-m", model, "--ids", ",".join(map(str, ids)), "--device", "cpu"],
                         capture_output=True, text=True, check=True)
    return np.array(json.loads(run.stdout)["logits"], dtype=np.float64)


def run_onnx(session, ids, positions, past):
    feeds = {"input_ids": np.array([ids], dtype=np.int64), "position_ids": np.array([positions], dtype=np.int64), **past}
    names = [o.name for o in session.get_outputs()]
    outs = dict(zip(names, session.run(names, feeds)))
    present = {n.replace("present.", "past_key_values."): v for n, v in outs.items() if n.startswith("present.")}
    return outs["logits"][0].astype(np.float64), present


def empty_past(session):
    past = {}
    for i in session.get_inputs():
        if i.name.startswith("past_key_values."):
            _, heads, _, head_dim = i.shape
            past[i.name] = np.zeros((1, heads, 0, head_dim), dtype=np.float32)
    return past


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main():
    forge, shared = sys.argv[1], sys.argv[2]
    out_dir = sys.argv[3] if len(sys.argv) > 3 else tempfile.mkdtemp(prefix="forge-onnx-")
    print(f"onnxruntime {ort.__version__}")
    models = [("stories260K", f"{shared}/models/stories260K/stories260K.gguf", 512),
              ("tinystories-656K", f"{shared}/models/tinystories-656K", 2048)]
    for i, (label, model_type, overrides) in enumerate(RANDOM):
        models.append((label, random_model(out_dir, label, model_type, overrides, 500 + i), VOCAB))
    failed, results = 0, []
    for label, path, vocab in models:
        rng = np.random.default_rng(len(label))
        ids = [1] + rng.integers(2, vocab, 15).tolist()
        want = forge_logits(forge, path, ids)
        for variant, flags, bound in [("f32", [], 1e-4), ("f16", ["--f16"], 1e-2), ("external", ["--external-data"], 1e-4)]:
            if variant == "external" and label != "stories260K":
                continue
            onnx_path = f"{out_dir}/{label}-{variant}.onnx"
            subprocess.run([forge, "export-onnx", "-m", path, "-o", onnx_path] + flags, check=True, capture_output=True)
            session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
            whole, _ = run_onnx(session, ids, list(range(len(ids))), empty_past(session))
            first, past = run_onnx(session, ids[:9], list(range(9)), empty_past(session))
            second, _ = run_onnx(session, ids[9:], list(range(9, len(ids))), past)
            errors = {"one call": rel(whole, want), "two calls": rel(np.concatenate([first, second]), want)}
            ok = all(e < bound for e in errors.values())
            failed += not ok
            results.append({"model": label, "variant": variant, **errors, "ok": ok})
            print(f"{'PASS' if ok else 'FAIL'}  {label:<18} {variant:<8} relative L2 error: one call {errors['one call']:.2e}, "
                  f"cached past {errors['two calls']:.2e} (bound {bound:g})")
    print(json.dumps(results))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
