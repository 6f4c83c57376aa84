#!/usr/bin/env python3
"""forge vs Hugging Face transformers, logits in F32, one tiny random model per architecture.

Runs on the GPU machine (PyTorch and transformers are installed there; nothing is downloaded):
builds each model from a config with transformers, randomises every weight (norms and biases
too, so (1 + w) norms and biases are really tested), saves safetensors + config.json, runs
`forge logits --ids ...` on the directory and compares with transformers' logits for the same ids.
Passes when every prompt's relative L2 error ||forge - hf|| / ||hf|| is below 1e-4 for forge's CPU
engine (F32 KV cache); the CUDA engine (F16 KV cache, the only one it has) is checked against
the same logits with a bound of 2e-3.

usage: python3 tests/device/compare_transformers.py FORGE_BIN [OUT_DIR]
"""
import json
import math
import subprocess
import sys
import tempfile

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM

# (device flag, extra forge flags, bound)
ENGINES = [("cpu", ["--cache-type", "f32"], 1e-4), ("cuda", ["--cache-type", "f16"], 2e-3)]
VOCAB = 256
BASE = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=False)

# (label, model_type, config overrides, prompt length)
CASES = [
    ("llama", "llama", dict(rms_norm_eps=1e-5), 12),
    ("llama-tied", "llama", dict(tie_word_embeddings=True, num_key_value_heads=4), 12),
    ("llama3-rope-scaling", "llama", dict(rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                                            high_freq_factor=4.0, original_max_position_embeddings=64)), 12),
    ("llama-linear-rope", "llama", dict(rope_scaling=dict(rope_type="linear", factor=2.0)), 12),
    ("mistral-sliding-window", "mistral", dict(sliding_window=5), 16),
    ("qwen2-biases", "qwen2", dict(), 12),
    ("qwen3-qk-norm", "qwen3", dict(head_dim=32), 12),
    ("gemma", "gemma", dict(head_dim=32, num_key_value_heads=1, hidden_act="gelu_pytorch_tanh",
                             hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True), 12),
    ("gemma2", "gemma2", dict(head_dim=32, query_pre_attn_scalar=24, sliding_window=5, attn_logit_softcapping=50.0,
                               final_logit_softcapping=3.0, hidden_activation="gelu_pytorch_tanh",
                               tie_word_embeddings=True, num_hidden_layers=4), 16),
    ("phi3", "phi3", dict(pad_token_id=0), 12),
    ("phi3-longrope", "phi3", dict(pad_token_id=0, max_position_embeddings=1024, original_max_position_embeddings=128,
                                    rope_scaling=dict(type="longrope", short_factor=[1.0 + 0.1 * i for i in range(8)],
                                                      long_factor=[2.0 + 0.5 * i for i in range(8)])), 12),
    ("stablelm", "stablelm", dict(partial_rotary_factor=0.25, use_qkv_bias=True, layer_norm_eps=1e-5), 12),
    ("stablelm-parallel", "stablelm", dict(partial_rotary_factor=0.5, use_parallel_residual=True), 12),
]


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                # Around 1 for x * w norms; around 0 for gemma's x * (1 + w).
                centre = 0.0 if model.config.model_type.startswith("gemma") else 1.0
                p.copy_(centre + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.08 * torch.randn(p.shape, generator=g))


def main():
    forge = sys.argv[1]
    out_dir = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="forge-hf-")
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    results, failed = [], 0
    for i, (label, model_type, overrides, n) in enumerate(CASES):
        cfg = AutoConfig.for_model(model_type, **{**BASE, **overrides})
        cfg._attn_implementation = "eager"
        torch.manual_seed(i)
        model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.float32, attn_implementation="eager").eval()
        randomise(model, 100 + i)
        path = f"{out_dir}/{label}"
        model.save_pretrained(path, safe_serialization=True)
        g = torch.Generator().manual_seed(1000 + i)
        prompts = [torch.randint(0, VOCAB, (n,), generator=g).tolist() for _ in range(3)]
        with torch.no_grad():
            refs = [model(torch.tensor([ids])).logits[0].double() for ids in prompts]
        case_failed = False
        for device, flags, tol in ENGINES:
            worst = 0.0
            for ids, ref in zip(prompts, refs):
                run = subprocess.run([forge, "logits", "-m", path, "--ids", ",".join(map(str, ids)), "--device", device] + flags,
                                     capture_output=True, text=True)
                if run.returncode != 0:
                    print(f"{label} ({device}): forge failed: {run.stderr.strip()}")
                    worst = math.inf
                    break
                got = torch.tensor(json.loads(run.stdout)["logits"], dtype=torch.float64)
                worst = max(worst, float((got - ref).norm() / ref.norm()))
            ok = worst < tol
            failed += not ok
            case_failed |= not ok
            results.append({"model": label, "device": device, "max_rel_l2": worst, "ok": ok})
            print(f"{'PASS' if ok else 'FAIL'}  {label:<24} {device:<5} worst relative L2 error {worst:.2e} (3 prompts of {n} tokens)")
        if case_failed:
            saved = json.load(open(f"{path}/config.json"))
            print("    config.json rope keys:", {k: v for k, v in saved.items() if "rope" in k or "position" in k})
    print(json.dumps(results))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
