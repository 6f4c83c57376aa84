#include "serve/http_server.h"

#include <atomic>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

namespace forge::serve {

extern const char* const kChatPage;  // chat_page.html, embedded at build time

using json = nlohmann::json;

struct HttpServer::Impl {
    Engine& engine;
    ApiModel model;
    ServerOptions o;
    httplib::Server svr;
    std::atomic<uint64_t> serial{0};
    std::atomic<bool> stopping{false};
    std::atomic<int> responding{0};  // generation responses still being written

    Impl(Engine& e, ApiModel m, ServerOptions opts) : engine(e), model(std::move(m)), o(std::move(opts)) {}

    void reply_error(httplib::Response& res, const ApiError& e) {
        res.status = e.status;
        if (e.status == 503) res.set_header("Retry-After", "1");
        if (e.status == 401) res.set_header("WWW-Authenticate", "Bearer");
        res.set_content(error_json(e), "application/json");
        engine.metrics().update([](MetricsSnapshot& s, auto&, auto&) { ++s.requests_rejected; });
    }

    bool authorised(const httplib::Request& req) const {
        return o.api_key.empty() || req.get_header_value("Authorization") == "Bearer " + o.api_key;
    }

    void generate(const httplib::Request& req, httplib::Response& res, bool chat) {
        auto r = std::make_shared<ApiRequest>(chat ? parse_chat_request(req.body, model) : parse_completion_request(req.body, model));
        std::shared_ptr<RequestChannel> ch;
        try {
            ch = engine.submit(r->gen);
        } catch (const Overloaded& e) {
            throw ApiError(503, e.what(), "", "overloaded");
        } catch (const RequestError& e) {
            throw ApiError(400, e.what());
        }
        auto builder = std::make_shared<ResponseBuilder>(model, *r, ++serial);
        ++responding;
        const bool stream = r->stream;
        // Both kinds are written as events come; the non-streaming body is preceded by spaces
        // while waiting (valid JSON whitespace), so a vanished client is noticed there too.
        res.set_chunked_content_provider(
            stream ? "text/event-stream" : "application/json",
            [r, ch, builder, stream](size_t, httplib::DataSink& sink) {
                const auto ev = ch->next(std::chrono::milliseconds(500));
                if (!ev) return sink.write(stream ? ": keep-alive\n\n" : " ", stream ? 14 : 1);
                if (!stream) {
                    builder->add(*ev);
                    if (!ev->done) return true;
                    const std::string body = builder->whole();
                    if (!sink.write(body.data(), body.size())) return false;
                } else {
                    const std::string text = builder->chunk(*ev);
                    if (!text.empty() && !sink.write(text.data(), text.size())) return false;
                    if (!ev->done) return true;
                }
                sink.done();
                return true;
            },
            [this, ch](bool success) {
                if (!success) ch->cancel();
                --responding;
            });
        if (stream) res.set_header("Cache-Control", "no-cache");
    }

    void routes() {
        svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
            const bool open = req.path == "/health" || req.path == "/metrics" || req.path == "/" || req.method == "OPTIONS";
            if (!open && !authorised(req)) {
                reply_error(res, ApiError(401, "Incorrect or missing API key: send 'Authorization: Bearer KEY'", "", "invalid_api_key"));
                return httplib::Server::HandlerResponse::Handled;
            }
            return httplib::Server::HandlerResponse::Unhandled;
        });
        svr.set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
            try {
                std::rethrow_exception(ep);
            } catch (const ApiError& e) {
                reply_error(res, e);
            } catch (const std::exception& e) {
                reply_error(res, ApiError(500, e.what()));
            }
        });
        svr.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty()) return;
            const std::string msg = res.status == 404 ? fmt::format("no route {} {}", req.method, req.path)
                                                      : fmt::format("HTTP {}", res.status);
            res.set_content(error_json(ApiError(res.status, msg)), "application/json");
        });
        svr.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) { generate(req, res, true); });
        svr.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) { generate(req, res, false); });
        svr.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
            const json m{{"id", model.name}, {"object", "model"}, {"created", 0}, {"owned_by", "forge"}, {"max_model_len", model.n_ctx}};
            res.set_content(dump(json{{"object", "list"}, {"data", json::array({m})}}), "application/json");
        });
        svr.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
            res.status = stopping ? 503 : 200;
            res.set_content(stopping ? R"({"status":"shutting down"})" : R"({"status":"ok"})", "application/json");
        });
        svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(engine.metrics().render(), "text/plain; version=0.0.4");
        });
        svr.Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
            const json j = json::parse(req.body, nullptr, false);
            const json* text = j.is_object() ? (j.contains("prompt") ? &j["prompt"] : j.contains("content") ? &j["content"] : nullptr) : nullptr;
            if (!text || !text->is_string()) throw ApiError(400, "send {\"prompt\": \"text\"} (optionally \"add_special_tokens\")", "prompt");
            const bool special = j.value("add_special_tokens", true);
            const auto ids = model.tok->encode(text->get<std::string>(), special);
            res.set_content(dump(json{{"tokens", ids}, {"count", ids.size()}, {"max_model_len", model.n_ctx}}), "application/json");
        });
        svr.Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
            const json j = json::parse(req.body, nullptr, false);
            if (!j.is_object() || !j.contains("tokens") || !j["tokens"].is_array()) throw ApiError(400, "send {\"tokens\": [ids]}", "tokens");
            std::vector<int32_t> ids;
            for (const json& t : j["tokens"]) {
                if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= model.tok->vocab().size())
                    throw ApiError(400, fmt::format("tokens must be ids between 0 and {}", model.tok->vocab().size() - 1), "tokens");
                ids.push_back(t.get<int32_t>());
            }
            const std::string text = model.tok->decode(ids);
            res.set_content(dump(json{{"prompt", text}, {"content", text}}), "application/json");
        });
        svr.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(kChatPage, "text/html; charset=utf-8"); });
    }
};

HttpServer::HttpServer(Engine& engine, ApiModel model, ServerOptions o)
    : impl_(std::make_unique<Impl>(engine, std::move(model), std::move(o))) {
    const int n = impl_->o.connections;
    impl_->svr.new_task_queue = [n] { return new httplib::ThreadPool(size_t(n)); };
    impl_->svr.set_payload_max_length(16u << 20);
    impl_->routes();
}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
    const auto& o = impl_->o;
    const int port = o.port == 0 ? impl_->svr.bind_to_any_port(o.host) : (impl_->svr.bind_to_port(o.host, o.port) ? o.port : -1);
    if (port < 0) throw Error(fmt::format("cannot listen on {}:{} (in use, or not an address of this machine?)", o.host, o.port));
    return port;
}

void HttpServer::serve() { impl_->svr.listen_after_bind(); }

void HttpServer::shutdown() {
    if (impl_->stopping.exchange(true)) return;
    impl_->engine.drain(impl_->o.grace);
    // Every request has its final event now; give the connections a moment to send it.
    for (int i = 0; i < 100 && impl_->responding > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    impl_->svr.stop();
}

}  // namespace forge::serve
