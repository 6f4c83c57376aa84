// TensorRef's conversion (model_source.h); its own file so the WebAssembly runtime, which reads
// no model files, links it without the loaders.
#include "format/dequantize.h"
#include "model/model_source.h"

namespace forge {

std::vector<float> TensorRef::to_f32() const {
    std::vector<float> v(static_cast<size_t>(n_elements()));
    dequantize_row(type, data.data(), v.data(), n_elements());
    return v;
}

}  // namespace forge
