// A model as a standard ONNX decoder graph (opset 17), the layout Hugging Face Optimum and
// transformers.js use, so onnxruntime and other ONNX tools run it as they are:
//   inputs   input_ids [batch, sequence] int64, position_ids [batch, sequence] int64,
//            past_key_values.L.key / .value [batch, n_head_kv, past_sequence, head_dim] float
//   outputs  logits [batch, sequence, n_vocab] float,
//            present.L.key / .value [batch, n_head_kv, past_sequence + sequence, head_dim] float
// Keys at cache index j are those of position j, so position_ids of a step continue the past
// (past_sequence, past_sequence + 1, ...); a first call passes past tensors of length 0. Every
// weight is an initializer, dequantised to F32 or F16 (with a Cast to float where it is used);
// Q/K rows in GGUF's rotary order are put back in Hugging Face's, so the graph rotates halves.
// Large models keep their weights in OUT.data beside OUT (ONNX's external data), as protobuf
// cannot hold 2 GiB in one message.
#pragma once

#include <cstdint>
#include <string>

namespace forge {

class ModelSource;

struct OnnxExportOptions {
    bool f16 = false;            // F16 initializers (half the file) instead of F32
    bool external_data = false;  // weights in OUT.data even when the model is small
};

struct OnnxExportReport {
    int64_t n_nodes = 0, n_initializers = 0;
    uint64_t weight_bytes = 0;
    bool external = false;  // the weights went to OUT.data
};

// Writes the graph and checks it with onnx::checker (full check, shape inference included).
// Throws forge::Error for an architecture or feature the graph does not express (gemma, phi3,
// stablelm, partial rotary, soft-capping).
OnnxExportReport export_onnx(const ModelSource& src, const std::string& out_path, const OnnxExportOptions& opt);

}  // namespace forge
