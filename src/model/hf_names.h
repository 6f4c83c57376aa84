// Hugging Face tensor names -> GGUF (llama.cpp) tensor names, so every layer of forge above the
// format readers sees one naming scheme whatever the source file.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "model/config.h"

namespace forge {

// The GGUF name for a Hugging Face tensor, nullopt for tensors that carry no weights forge uses
// (e.g. rotary_emb.inv_freq). Throws FormatError for a name it does not recognise, so a new
// layer type is never silently dropped.
std::optional<std::string> gguf_name_for_hf(std::string_view hf_name, Arch arch, std::string_view source);

}  // namespace forge
