// What a compiled model's generated sources (forge compile) hand to forgellm's runtime: the
// model's constants, its buffers, the table of its weights file, and its forward function. The
// runtime (compiled_main) reads the weights file, checks it against the table, builds the
// executor of the target and runs the same text generation and server as `forge run` and
// `forge serve`.
//
// Only standard headers here: this file is copied into the sources `forge compile` writes.
#pragma once

#include <cstdint>

#include "forge/op_sink.h"

namespace forge {

// ModelConfig's fields as constants (arch by its GGUF name).
struct CompiledConfig {
    const char* arch;
    int64_t n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    float norm_eps;
    bool layer_norm;
    float rope_freq_base;
    int64_t rope_dim;
    bool rope_neox;
    int64_t sliding_window;
    bool tied_embeddings;
    float final_logit_softcap, attn_logit_softcap, query_scale, norm_weight_offset;
};

struct CompiledBuffer {
    const char* name;
    int64_t cols;  // rows are the step's tokens
};

// One tensor of the weights file, in file order: what the binary expects to find there.
struct CompiledTensor {
    const char* name;
    uint32_t type;  // ggml type id
    int n_dims;
    int64_t ne[4];  // ggml order
};

struct CompiledModel {
    const char* name;    // the model's name, for reports and the server's model id
    const char* source;  // the file it was compiled from
    const char* target;  // "cpu", "cuda" or "wasm"
    CompiledConfig config;
    int64_t n_ctx;  // the context the RoPE table was made for: the most the binary runs
    const float* rope_inv_freq;
    int64_t n_rope_freq;
    float rope_mscale;
    float attn_scale;
    const CompiledBuffer* buffers;
    int n_buffers;
    int logits;  // the buffer holding the logits
    const CompiledTensor* tensors;
    int n_tensors;
    ForwardFn forward;
};

// The binary's main(): `NAME WEIGHTS TOKENIZER [PROMPT] [flags]` or `... --serve [flags]`,
// on the CPU or on CUDA device 0. Returns the exit status.
int compiled_main_cpu(int argc, char** argv, const CompiledModel& model);
int compiled_main_cuda(int argc, char** argv, const CompiledModel& model);
// WebAssembly: makes the model the one the page's script loads and runs (compiled_wasm.cpp).
int compiled_main_wasm(const CompiledModel& model);

}  // namespace forge
