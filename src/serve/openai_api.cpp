#include "serve/openai_api.h"

#include <chrono>
#include <limits>
#include <optional>
#include <random>

#include <fmt/format.h>

#include "runtime/chat_template.h"

namespace forge::serve {

using json = nlohmann::json;

const char* const kChatMlTemplate =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string error_json(const ApiError& e) {
    const char* type = e.status == 401 ? "authentication_error"
                       : e.status >= 500 ? "server_error"
                       : e.status == 404 ? "not_found_error"
                                         : "invalid_request_error";
    json err{{"message", e.what()}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
    if (!e.param.empty()) err["param"] = e.param;
    if (!e.code.empty()) err["code"] = e.code;
    return dump(json{{"error", err}});
}

namespace {

[[noreturn]] void bad(const std::string& message, const std::string& param = {}) { throw ApiError(400, message, param); }

json parse_body(std::string_view body) {
    json j;
    try {
        j = json::parse(body);
    } catch (const json::exception& e) {  // syntax, bad UTF-8, numbers out of range
        bad(fmt::format("the body is not valid JSON: {}", e.what()));
    }
    if (!j.is_object()) bad("the body must be a JSON object");
    return j;
}

// A field that is absent or null gives nullopt; a wrong type or a value outside [lo, hi] is a 400.
std::optional<double> number(const json& j, const char* key, double lo, double hi) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_number()) bad(fmt::format("'{}' must be a number", key), key);
    const double v = it->get<double>();
    if (!(v >= lo && v <= hi)) bad(fmt::format("'{}' is {}; it must be between {} and {}", key, v, lo, hi), key);
    return v;
}

std::optional<int64_t> integer(const json& j, const char* key, int64_t lo, int64_t hi) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_number_integer()) bad(fmt::format("'{}' must be an integer", key), key);
    if (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
        bad(fmt::format("'{}' is too large", key), key);
    const int64_t v = it->get<int64_t>();
    if (v < lo || v > hi) bad(fmt::format("'{}' is {}; it must be between {} and {}", key, v, lo, hi), key);
    return v;
}

std::optional<bool> boolean(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_boolean()) bad(fmt::format("'{}' must be true or false", key), key);
    return it->get<bool>();
}

std::vector<int32_t> token_ids(const json& arr, const char* key, int64_t n_vocab) {
    std::vector<int32_t> ids;
    for (const json& t : arr) {
        if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= n_vocab)
            bad(fmt::format("'{}' must hold token ids between 0 and {}", key, n_vocab - 1), key);
        ids.push_back(t.get<int32_t>());
    }
    return ids;
}

// The fields both endpoints share. Sampling defaults are OpenAI's: temperature 1, no top-k,
// top-p or min-p, no penalties; no seed means a fresh random one.
void parse_common(const json& j, ApiRequest& r, const ApiModel& m) {
    if (const auto it = j.find("model"); it != j.end() && !it->is_null() && !it->is_string()) bad("'model' must be a string", "model");
    if (const auto n = integer(j, "n", 1, 1000); n && *n != 1) bad("only n = 1 is supported", "n");
    SamplerParams& s = r.gen.sampling;
    s.temperature = float(number(j, "temperature", 0, 2).value_or(1.0));
    s.top_p = float(number(j, "top_p", 0, 1).value_or(1.0));
    if (s.top_p <= 0) bad("'top_p' must be above 0", "top_p");
    s.top_k = int32_t(std::max<int64_t>(0, integer(j, "top_k", -1, std::numeric_limits<int32_t>::max()).value_or(0)));
    s.min_p = float(number(j, "min_p", 0, 1).value_or(0.0));
    s.presence_penalty = float(number(j, "presence_penalty", -2, 2).value_or(0.0));
    s.frequency_penalty = float(number(j, "frequency_penalty", -2, 2).value_or(0.0));
    s.repeat_penalty = float(number(j, "repetition_penalty", 0.01, 10).value_or(1.0));
    s.penalty_last_n = -1;
    if (const auto seed = integer(j, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()))
        s.seed = uint64_t(*seed);
    else
        s.seed = std::random_device{}() * 0x100000001ull + std::random_device{}();
    if (const auto it = j.find("logit_bias"); it != j.end() && !it->is_null()) {
        if (!it->is_object()) bad("'logit_bias' must map token ids to numbers", "logit_bias");
        for (const auto& [key, v] : it->items()) {
            int64_t id = -1;
            try {
                size_t used = 0;
                id = std::stoll(key, &used);
                if (used != key.size()) id = -1;
            } catch (const std::exception&) {
            }
            if (id < 0 || id >= int64_t(m.tok->vocab().size()))
                bad(fmt::format("logit_bias: '{}' is not a token id of this model", key), "logit_bias");
            if (!v.is_number() || v.get<double>() < -100 || v.get<double>() > 100)
                bad("logit_bias values must be numbers between -100 and 100", "logit_bias");
            s.logit_bias[int32_t(id)] = v.get<float>();
        }
    }
    if (const auto it = j.find("stop"); it != j.end() && !it->is_null()) {
        if (it->is_string()) {
            r.gen.stop.push_back(it->get<std::string>());
        } else if (it->is_array()) {
            for (const json& x : *it) {
                if (!x.is_string()) bad("'stop' must be a string or a list of strings", "stop");
                r.gen.stop.push_back(x.get<std::string>());
            }
        } else {
            bad("'stop' must be a string or a list of strings", "stop");
        }
        std::erase(r.gen.stop, std::string());
    }
    r.gen.ignore_eos = boolean(j, "ignore_eos").value_or(false);
    r.stream = boolean(j, "stream").value_or(false);
    if (const auto it = j.find("stream_options"); it != j.end() && !it->is_null()) {
        if (!it->is_object()) bad("'stream_options' must be an object", "stream_options");
        r.include_usage = boolean(*it, "include_usage").value_or(false);
    }
}

// max_tokens against the context, with OpenAI's wording. default_max: when the request has none.
void fit_context(const json& j, ApiRequest& r, const ApiModel& m, std::optional<int64_t> default_max) {
    const int64_t p = int64_t(r.gen.prompt.size());
    if (p == 0) bad("the prompt is empty", r.chat ? "messages" : "prompt");
    const char* key = j.contains("max_completion_tokens") && !j["max_completion_tokens"].is_null() ? "max_completion_tokens" : "max_tokens";
    const auto asked = integer(j, key, 1, std::numeric_limits<int64_t>::max());
    if (p >= m.n_ctx)
        throw ApiError(400, fmt::format("This model's maximum context length is {} tokens. However, your {} is {} tokens, which leaves no room for a completion. Please reduce the length of the {}.",
                                        m.n_ctx, r.chat ? "messages" : "prompt", p, r.chat ? "messages" : "prompt"),
                       r.chat ? "messages" : "prompt", "context_length_exceeded");
    if (asked && *asked > m.n_ctx - p)
        throw ApiError(400, fmt::format("This model's maximum context length is {} tokens. However, you requested {} tokens ({} in the {}, {} in the completion). Please reduce the length of the {} or completion.",
                                        m.n_ctx, p + *asked, p, r.chat ? "messages" : "prompt", *asked, r.chat ? "messages" : "prompt"),
                       key, "context_length_exceeded");
    r.gen.max_tokens = asked ? *asked : std::min(default_max.value_or(m.n_ctx - p), m.n_ctx - p);
}

}  // namespace

ApiRequest parse_chat_request(std::string_view body, const ApiModel& m) {
    const json j = parse_body(body);
    ApiRequest r;
    r.chat = true;
    parse_common(j, r, m);
    const auto msgs = j.find("messages");
    if (msgs == j.end() || !msgs->is_array() || msgs->empty()) bad("'messages' must be a non-empty list of messages", "messages");
    json messages = json::array();
    for (const json& msg : *msgs) {
        if (!msg.is_object() || !msg.contains("role") || !msg["role"].is_string())
            bad("each message needs a string 'role'", "messages");
        json out = msg;
        const auto content = msg.find("content");
        if (content == msg.end() || content->is_null()) {
            out["content"] = "";
        } else if (content->is_array()) {
            // Content parts: the text ones, joined (no images here).
            std::string text;
            for (const json& part : *content) {
                if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
                    bad("only text content parts are supported", "messages");
                text += part["text"].get<std::string>();
            }
            out["content"] = text;
        } else if (!content->is_string()) {
            bad("a message's 'content' must be a string or a list of text parts", "messages");
        }
        messages.push_back(out);
    }
    if (const auto lp = boolean(j, "logprobs"); lp && *lp) {
        r.logprobs = true;
        r.gen.top_logprobs = int(integer(j, "top_logprobs", 0, 20).value_or(0));
    } else if (integer(j, "top_logprobs", 0, 20)) {
        bad("'top_logprobs' needs 'logprobs': true", "top_logprobs");
    }
    const Tokenizer& tok = *m.tok;
    const std::string bos = tok.bos() >= 0 ? tok.piece(tok.bos(), true) : "", eos = tok.eos() >= 0 ? tok.piece(tok.eos(), true) : "";
    std::string text;
    try {
        text = render_chat(m.chat_template, {&messages, nullptr, true, bos, eos, nullptr});
    } catch (const std::exception& e) {
        bad(fmt::format("the chat template cannot render these messages: {}", e.what()), "messages");
    }
    r.gen.prompt = tok.encode(text, false);
    fit_context(j, r, m, std::nullopt);
    return r;
}

ApiRequest parse_completion_request(std::string_view body, const ApiModel& m) {
    const json j = parse_body(body);
    ApiRequest r;
    parse_common(j, r, m);
    const auto prompt = j.find("prompt");
    const int64_t n_vocab = int64_t(m.tok->vocab().size());
    if (prompt == j.end() || prompt->is_null()) bad("'prompt' is required", "prompt");
    if (prompt->is_string()) {
        r.gen.prompt = m.tok->encode(prompt->get<std::string>(), true);
    } else if (prompt->is_array() && !prompt->empty() && (*prompt)[0].is_number()) {
        r.gen.prompt = token_ids(*prompt, "prompt", n_vocab);
    } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
        r.gen.prompt = m.tok->encode((*prompt)[0].get<std::string>(), true);
    } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_array()) {
        r.gen.prompt = token_ids((*prompt)[0], "prompt", n_vocab);
    } else {
        bad("'prompt' must be a string, a list of token ids, or a list holding one of those (one prompt per request)", "prompt");
    }
    if (const auto lp = integer(j, "logprobs", 0, 20)) {
        r.logprobs = true;
        r.gen.top_logprobs = int(*lp);
    }
    fit_context(j, r, m, 16);  // OpenAI's default for completions
    return r;
}

ResponseBuilder::ResponseBuilder(const ApiModel& m, const ApiRequest& r, uint64_t serial)
    : m_(m), r_(r), id_(fmt::format("{}-forge-{}", r.chat ? "chatcmpl" : "cmpl", serial)),
      created_(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count()) {}

json ResponseBuilder::base(const char* object) const {
    return json{{"id", id_}, {"object", object}, {"created", created_}, {"model", m_.name}};
}

json ResponseBuilder::logprobs_json(const std::vector<TokenLogprob>& lps) {
    const Tokenizer& tok = *m_.tok;
    auto bytes = [](const std::string& s) {
        json b = json::array();
        for (unsigned char c : s) b.push_back(int(c));
        return b;
    };
    if (r_.chat) {
        json content = json::array();
        for (const TokenLogprob& lp : lps) {
            const std::string piece = tok.piece(lp.token);
            json top = json::array();
            for (const auto& [id, l] : lp.top) top.push_back({{"token", tok.piece(id)}, {"logprob", l}, {"bytes", bytes(tok.piece(id))}});
            content.push_back({{"token", piece}, {"logprob", lp.logprob}, {"bytes", bytes(piece)}, {"top_logprobs", top}});
        }
        return json{{"content", content}};
    }
    json tokens = json::array(), token_lps = json::array(), tops = json::array(), offsets = json::array();
    for (const TokenLogprob& lp : lps) {
        const std::string piece = tok.piece(lp.token);
        tokens.push_back(piece);
        token_lps.push_back(lp.logprob);
        json top = json::object();
        for (const auto& [id, l] : lp.top) top[tok.piece(id)] = l;
        tops.push_back(top);
        offsets.push_back(text_offset_);
        text_offset_ += int64_t(piece.size());
    }
    return json{{"tokens", tokens}, {"token_logprobs", token_lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

void ResponseBuilder::add(const Event& e) {
    text_ += e.text;
    lps_.insert(lps_.end(), e.logprobs.begin(), e.logprobs.end());
    if (e.done) last_ = e;
}

namespace {

json usage(const Event& done) {
    return json{{"prompt_tokens", done.n_prompt}, {"completion_tokens", done.n_generated},
                {"total_tokens", done.n_prompt + done.n_generated}};
}

}  // namespace

std::string ResponseBuilder::whole() {
    if (last_.finish_reason == "error") return error_json(ApiError(500, last_.error));
    json choice{{"index", 0}, {"finish_reason", last_.finish_reason}, {"logprobs", nullptr}};
    if (r_.logprobs) choice["logprobs"] = logprobs_json(lps_);
    if (r_.chat)
        choice["message"] = {{"role", "assistant"}, {"content", text_}};
    else
        choice["text"] = text_;
    json out = base(r_.chat ? "chat.completion" : "text_completion");
    out["choices"] = json::array({choice});
    out["usage"] = usage(last_);
    return dump(out);
}

std::string ResponseBuilder::chunk(const Event& e) {
    std::string out;
    const char* object = r_.chat ? "chat.completion.chunk" : "text_completion";
    auto emit = [&](const json& choice) {
        json c = base(object);
        c["choices"] = json::array({choice});
        out += "data: " + dump(c) + "\n\n";
    };
    if (r_.chat && !sent_role_) {
        emit({{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}});
        sent_role_ = true;
    }
    if (!e.text.empty() || !e.logprobs.empty()) {
        json choice{{"index", 0}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
        if (r_.logprobs) choice["logprobs"] = logprobs_json(e.logprobs);
        if (r_.chat)
            choice["delta"] = {{"content", e.text}};
        else
            choice["text"] = e.text;
        emit(choice);
    }
    if (!e.done) return out;
    if (e.finish_reason == "error") {
        out += "data: " + error_json(ApiError(500, e.error)) + "\n\n";
    } else {
        json choice{{"index", 0}, {"logprobs", nullptr}, {"finish_reason", e.finish_reason}};
        if (r_.chat)
            choice["delta"] = json::object();
        else
            choice["text"] = "";
        emit(choice);
        if (r_.include_usage) {
            json c = base(object);
            c["choices"] = json::array();
            c["usage"] = usage(e);
            out += "data: " + dump(c) + "\n\n";
        }
    }
    return out + "data: [DONE]\n\n";
}

}  // namespace forge::serve
