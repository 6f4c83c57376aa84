// forge serve's HTTP side (cpp-httplib): the OpenAI routes, /health, /metrics, /tokenize,
// /detokenize and the chat page at /, over an Engine. Streaming responses are server-sent events;
// a client that goes away is noticed at the next write (a keep-alive comment every half second
// while nothing else is sent) and its request is cancelled.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "serve/engine.h"
#include "serve/openai_api.h"

namespace forge::serve {

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8080;                 // 0: any free port
    std::string api_key;             // empty: no key needed
    int connections = 128;           // served at once (each streaming request holds one)
    std::chrono::milliseconds grace{30000};  // shutdown: how long in-flight requests may finish
};

class HttpServer {
public:
    HttpServer(Engine& engine, ApiModel model, ServerOptions o);
    ~HttpServer();
    // Binds the address; returns the port. Throws forge::Error when it cannot.
    int bind();
    // Serves until shutdown(); returns then.
    void serve();
    // Stops accepting requests, lets in-flight ones finish for the grace period (then cancels
    // them), and makes serve() return. Safe from any thread.
    void shutdown();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace forge::serve
