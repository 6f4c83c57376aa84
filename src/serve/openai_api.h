// The OpenAI wire format: request bodies of /v1/chat/completions and /v1/completions parsed and
// checked into GenerationParams (every bad field a 400 naming it), and the JSON of responses,
// stream chunks and errors. No I/O here: http_server.cpp does the transport.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/tokenizer.h"
#include "serve/request.h"
#include "util/error.h"

namespace forge::serve {

// What the API needs to know about the model it serves.
struct ApiModel {
    std::string name;           // the "model" in responses and /v1/models
    const Tokenizer* tok = nullptr;
    std::string chat_template;  // the model's, or ChatML when it has none
    int64_t n_ctx = 0;
};

// An error answered in OpenAI's error JSON.
struct ApiError : Error {
    ApiError(int status_, std::string message, std::string param_ = {}, std::string code_ = {})
        : Error(std::move(message)), status(status_), param(std::move(param_)), code(std::move(code_)) {}
    int status;
    std::string param, code;
};
// {"error": {"message", "type", "param", "code"}}.
std::string error_json(const ApiError& e);

struct ApiRequest {
    bool chat = false;
    GenerationParams gen;
    bool stream = false, include_usage = false;
    bool logprobs = false;
};

// Throws ApiError (400) for malformed JSON, wrong types, out-of-range values, empty messages, a
// prompt over the context, or a max_tokens that cannot fit.
ApiRequest parse_chat_request(std::string_view body, const ApiModel& m);
ApiRequest parse_completion_request(std::string_view body, const ApiModel& m);

// JSON text safe for any bytes (invalid UTF-8 replaced).
std::string dump(const nlohmann::json& j);

// Builds a request's responses: one whole response, or the chunks of a stream.
class ResponseBuilder {
public:
    ResponseBuilder(const ApiModel& m, const ApiRequest& r, uint64_t serial);

    // Non-streaming: the whole response after the final event, from all events' text and logprobs.
    void add(const Event& e);
    std::string whole();

    // Streaming: the SSE lines for one event ("data: {...}\n\n" ...; the role chunk first, the
    // usage chunk and "data: [DONE]" after the final event).
    std::string chunk(const Event& e);

private:
    nlohmann::json base(const char* object) const;
    nlohmann::json logprobs_json(const std::vector<TokenLogprob>& lps);

    const ApiModel& m_;
    const ApiRequest& r_;
    std::string id_;
    int64_t created_;
    bool sent_role_ = false;
    std::string text_;
    std::vector<TokenLogprob> lps_;
    int64_t text_offset_ = 0;  // completions' logprobs.text_offset
    Event last_;
};

// ChatML, for models that ship no chat template (llama.cpp's fallback too).
extern const char* const kChatMlTemplate;

}  // namespace forge::serve
