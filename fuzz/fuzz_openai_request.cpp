// An OpenAI request body (first byte: chat or completions) -> parsed and checked -> a response
// built from a fake event: any input must parse or end in serve::ApiError, never crash or throw
// anything else.
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "runtime/tokenizer.h"
#include "serve/openai_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace forge;
    static const Tokenizer tok(vocab_from_tokenizer_json(nlohmann::json::parse(R"({
        "model": {"type": "BPE", "vocab": {"H": 0, "e": 1, "l": 2, "o": 3, "He": 4, "ll": 5, "Ġ": 6, "w": 7, "<s>": 8, "</s>": 9},
                  "merges": ["H e", "l l"]},
        "added_tokens": [{"id": 8, "content": "<s>", "special": true}, {"id": 9, "content": "</s>", "special": true}],
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false},
        "decoder": {"type": "ByteLevel"}})"), nlohmann::json::object(), "fuzz/tokenizer.json"));
    static const serve::ApiModel model{"fuzz", &tok, serve::kChatMlTemplate, 64};
    if (size == 0) return 0;
    const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    try {
        const serve::ApiRequest r = data[0] % 2 ? serve::parse_chat_request(body, model) : serve::parse_completion_request(body, model);
        serve::ResponseBuilder b(model, r, 1);
        serve::Event e;
        e.text = "Hello \xff";
        e.logprobs.push_back({0, -0.5f, {{0, -0.5f}, {9, -2.0f}}});
        e.done = true;
        e.finish_reason = "stop";
        (void)b.chunk(e);
        b.add(e);
        (void)b.whole();
    } catch (const serve::ApiError&) {
    }
    return 0;
}
