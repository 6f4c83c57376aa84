#!/usr/bin/env python3
"""forge's LoRA merging (--lora) vs the peft package's merge_and_unload(), logits in F32.

Runs on the GPU machine (PyTorch, transformers and peft are installed there; nothing is
downloaded): builds a tiny random model per case with transformers, saves it, wraps it with
peft.get_peft_model (init_lora_weights=False, so A and B are both random and the adapter really
changes the model), saves the adapter (adapter_config.json + adapter_model.safetensors), merges
it with merge_and_unload() and takes the merged model's logits as the reference. forge then runs
`forge logits -m BASE --lora ADAPTER_DIR` on the base directory, on its GGUF conversion (Q/K rows
in GGUF's rotary order) and on a Q8_0 quantisation of it. Passes when the relative L2 error
||forge - peft|| / ||peft|| is below 1e-4 on the CPU engine for F32 weights (2e-3 on CUDA, whose
KV cache is F16), and below 5e-2 for the Q8_0 base.

usage: python3 tests/device/compare_peft.py FORGE_BIN [OUT_DIR]
"""
import json
import math
import subprocess
import sys
import tempfile

import peft
import torch
import transformers
from peft import LoraConfig, get_peft_model
from transformers import AutoConfig, AutoModelForCausalLM

VOCAB = 256
BASE = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=False)
PROJ = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# (label, model_type, config overrides, LoraConfig arguments, base formats to try)
CASES = [
    ("llama-all-modules", "llama", dict(rms_norm_eps=1e-5),
     dict(r=4, lora_alpha=8, target_modules=PROJ + ["embed_tokens", "lm_head"]), ["hf", "gguf", "q8_0"]),
    ("qwen2-tied-rslora", "qwen2", dict(tie_word_embeddings=True),
     dict(r=8, lora_alpha=4, target_modules=PROJ, use_rslora=True, alpha_pattern={"down_proj": 16}), ["hf", "gguf"]),
    ("phi3-fused-qkv", "phi3", dict(pad_token_id=0),
     dict(r=4, lora_alpha=16, target_modules=["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]), ["hf", "gguf"]),
]
ENGINES = [("cpu", ["--cache-type", "f32"], 1e-4), ("cuda", ["--cache-type", "f16"], 2e-3)]


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.08 * torch.randn(p.shape, generator=g))


def forge_logits(forge, model, adapter, ids, device, flags):
    run = subprocess.run([forge, "logits", "-m", model, "--lora", adapter, "--ids", ",".join(map(str, ids)), "--device", device]
                         + flags, capture_output=True, text=True)
    if run.returncode != 0:
        print(f"    forge failed: {run.stderr.strip()[-400:]}")
        return None
    return torch.tensor(json.loads(run.stdout)["logits"], dtype=torch.float64)


def main():
    forge = sys.argv[1]
    out_dir = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="forge-peft-")
    print(f"peft {peft.__version__}, transformers {transformers.__version__}, torch {torch.__version__}")
    results, failed = [], 0
    for i, (label, model_type, overrides, lora_args, formats) in enumerate(CASES):
        cfg = AutoConfig.for_model(model_type, **{**BASE, **overrides})
        torch.manual_seed(i)
        model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.float32, attn_implementation="eager").eval()
        randomise(model, 200 + i)
        base_dir, adapter_dir = f"{out_dir}/{label}", f"{out_dir}/{label}-adapter"
        model.save_pretrained(base_dir, safe_serialization=True)
        # forge convert needs a tokenizer.json; an empty BPE vocabulary is padded to the model's.
        json.dump({"model": {"type": "BPE", "vocab": {}, "merges": []}}, open(f"{base_dir}/tokenizer.json", "w"))
        g = torch.Generator().manual_seed(2000 + i)
        prompts = [torch.randint(0, VOCAB, (12,), generator=g).tolist() for _ in range(2)]
        with torch.no_grad():
            plain = [model(torch.tensor([ids])).logits[0].double() for ids in prompts]
        torch.manual_seed(300 + i)
        wrapped = get_peft_model(model, LoraConfig(init_lora_weights=False, **lora_args))
        wrapped.save_pretrained(adapter_dir)
        from safetensors import safe_open
        with safe_open(f"{adapter_dir}/adapter_model.safetensors", "pt") as f:
            names = sorted(f.keys())
        print(f"{label}: adapter holds {len(names)} tensors, e.g. {names[0]}, {names[-1]}")
        merged = wrapped.merge_and_unload().eval()
        with torch.no_grad():
            refs = [merged(torch.tensor([ids])).logits[0].double() for ids in prompts]
        moved = max(float((r - p).norm() / p.norm()) for r, p in zip(refs, plain))
        print(f"{label}: the adapter moves the logits by a relative {moved:.2f}")
        bases = {"hf": base_dir}
        if "gguf" in formats or "q8_0" in formats:
            bases["gguf"] = f"{out_dir}/{label}.gguf"
            subprocess.run([forge, "convert", base_dir, bases["gguf"]], check=True, capture_output=True)
        if "q8_0" in formats:
            bases["q8_0"] = f"{out_dir}/{label}.q8_0.gguf"
            subprocess.run([forge, "quantize", bases["gguf"], bases["q8_0"], "Q8_0"], check=True, capture_output=True)
        for fmt in formats:
            for device, flags, tol in ENGINES:
                if fmt == "q8_0":
                    tol = 5e-2
                worst = 0.0
                for ids, ref in zip(prompts, refs):
                    got = forge_logits(forge, bases[fmt], adapter_dir, ids, device, flags)
                    worst = math.inf if got is None else max(worst, float((got - ref).norm() / ref.norm()))
                ok = worst < tol and moved > 0.05
                failed += not ok
                results.append({"model": label, "base": fmt, "device": device, "max_rel_l2": worst, "ok": ok})
                print(f"{'PASS' if ok else 'FAIL'}  {label:<20} base {fmt:<5} {device:<5} worst relative L2 error {worst:.2e} "
                      f"(bound {tol:g})")
    print(json.dumps(results))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
