#include "runtime/tokenizer.h"

#include <algorithm>
#include <cmath>
#include <charconv>
#include <filesystem>
#include <queue>
#include <utility>

#include <fmt/format.h>

#include "format/gguf.h"
#include "runtime/regex_split.h"
#include "runtime/unicode.h"
#include "util/error.h"

namespace forge {

namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // ▁ U+2581, SentencePiece's visible space

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
    std::string out;
    out.reserve(s.size());
    size_t pos = 0;
    for (size_t hit; !from.empty() && (hit = s.find(from, pos)) != std::string_view::npos; pos = hit + from.size()) {
        out.append(s, pos, hit - pos);
        out.append(to);
    }
    out.append(s, pos);
    return out;
}

// Splits each piece so that every `delim` ends the piece it is in.
std::vector<std::string> split_after(const std::vector<std::string>& pieces, std::string_view delim) {
    std::vector<std::string> out;
    for (const auto& p : pieces) {
        size_t start = 0;
        for (size_t hit; (hit = p.find(delim, start)) != std::string::npos;) {
            out.emplace_back(p, start, hit + delim.size() - start);
            start = hit + delim.size();
        }
        if (start < p.size()) out.emplace_back(p, start);
    }
    return out;
}

// Splits each piece before every `delim` (Metaspace: each word starts with ▁).
std::vector<std::string> split_before(const std::vector<std::string>& pieces, std::string_view delim) {
    std::vector<std::string> out;
    for (const auto& p : pieces) {
        size_t start = 0;
        for (size_t hit = p.find(delim, 1); hit != std::string::npos; hit = p.find(delim, hit + delim.size())) {
            out.emplace_back(p, start, hit - start);
            start = hit;
        }
        if (start < p.size()) out.emplace_back(p, start);
    }
    return out;
}

std::vector<std::string> split_digits(const std::vector<std::string>& pieces, bool individual) {
    std::vector<std::string> out;
    for (const auto& p : pieces) {
        size_t i = 0;
        while (i < p.size()) {
            const bool digit = p[i] >= '0' && p[i] <= '9';
            size_t j = i + 1;
            if (!digit || !individual)
                while (j < p.size() && (p[j] >= '0' && p[j] <= '9') == digit) ++j;
            out.emplace_back(p, i, j - i);
            i = j;
        }
    }
    return out;
}

}  // namespace

Tokenizer::Tokenizer(Vocab vocab) : v_(std::move(vocab)) {
    for (const auto& step : v_.pre)
        step_regex_.push_back(step.kind == PreTokenizeStep::regex_isolated
                                  ? std::make_unique<RegexSplitter>(std::vector<std::string>{step.pattern})
                                  : nullptr);
    if (!v_.pre_regexes.empty()) gguf_regex_ = std::make_unique<RegexSplitter>(v_.pre_regexes);
    raw_specials_.resize(256);
    normalized_specials_.resize(256);
    for (int32_t id = 0; id < v_.size(); ++id) {
        const TokenAttr a = v_.attr[size_t(id)];
        const std::string& t = v_.text[size_t(id)];
        if (t.empty() || (a != TokenAttr::control && a != TokenAttr::user_defined && a != TokenAttr::unknown)) continue;
        if (v_.normalized[size_t(id)]) {
            std::string n = normalize(t);
            if (!n.empty()) normalized_specials_[uint8_t(n[0])].emplace_back(std::move(n), id);
        } else {
            raw_specials_[uint8_t(t[0])].emplace_back(t, id);
        }
    }
    for (auto* table : {&raw_specials_, &normalized_specials_})
        for (auto& list : *table)
            std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

Tokenizer Tokenizer::open(const std::string& path) {
    namespace fs = std::filesystem;
    if (!fs::exists(path)) throw Error(fmt::format("{}: no such file or directory", path));
    if (fs::is_directory(path)) {
        const fs::path tj = fs::path(path) / "tokenizer.json";
        if (!fs::exists(tj)) throw FormatError(fmt::format("{}: no tokenizer.json in this directory", path));
        return Tokenizer(vocab_from_tokenizer_json(tj.string()));
    }
    if (path.ends_with(".json")) return Tokenizer(vocab_from_tokenizer_json(path));
    return Tokenizer(vocab_from_gguf(GgufFile::open(path).metadata(), path));
}

// Leftmost-longest matching of the split-out tokens; lstrip/rstrip tokens swallow the whitespace
// next to them, as Hugging Face's added tokens do.
std::vector<Tokenizer::Fragment> Tokenizer::split_special(std::string_view text, bool parse_special,
                                                          const SpecialTable& table) const {
    std::vector<Fragment> out;
    size_t start = 0, i = 0;
    while (i < text.size()) {
        int32_t found = -1;
        size_t found_len = 0;
        for (const auto& [match, id] : table[uint8_t(text[i])]) {
            if (!parse_special && v_.attr[size_t(id)] != TokenAttr::user_defined) continue;
            if (text.substr(i).starts_with(match)) {
                found = id;
                found_len = match.size();
                break;
            }
        }
        if (found < 0) {
            ++i;
            continue;
        }
        size_t text_end = i;
        if (v_.lstrip[size_t(found)])
            while (text_end > start && is_ascii_space(text[text_end - 1])) --text_end;
        if (text_end > start) out.push_back({-1, text.substr(start, text_end - start)});
        out.push_back({found, {}});
        i += found_len;
        if (v_.rstrip[size_t(found)])
            while (i < text.size() && is_ascii_space(text[i])) ++i;
        start = i;
    }
    if (start < text.size()) out.push_back({-1, text.substr(start)});
    return out;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
    std::vector<int32_t> out;
    const auto fragments = split_special(text, parse_special, raw_specials_);
    const bool add_bos = add_special && v_.add_bos && v_.bos >= 0 && !(!fragments.empty() && fragments[0].token == v_.bos);
    if (add_bos) out.push_back(v_.bos);
    bool after_special = true;  // the start of the text counts as "after a special token"
    for (const auto& f : fragments) {
        if (f.token >= 0) {
            out.push_back(f.token);
            after_special = true;
        } else {
            encode_text(f.text, after_special, parse_special, out);
            after_special = false;
        }
    }
    if (add_special && v_.add_eos && v_.eos >= 0 && (out.empty() || out.back() != v_.eos)) out.push_back(v_.eos);
    return out;
}

void Tokenizer::encode_text(std::string_view text, bool after_special, bool parse_special, std::vector<int32_t>& out) const {
    if (v_.model == TokenizerModel::spm) {
        // llama.cpp: a space before the text and after each special token, then spaces become ▁.
        std::string s = v_.add_space_prefix && after_special ? " " : "";
        s.append(text);
        encode_spm(replace_all(s, " ", kSpace), out);
        return;
    }
    if (gguf_regex_) {
        for (const auto& word : gguf_regex_->split(text)) {
            std::string mapped;
            for (char c : word) mapped += byte_to_unicode(uint8_t(c));
            encode_bpe(mapped, out);
        }
        return;
    }
    // Hugging Face: normalise, split out normalised added tokens, then pre-tokenise and merge.
    const std::string s = normalize(text);
    for (const auto& f : split_special(s, parse_special, normalized_specials_)) {
        if (f.token >= 0) out.push_back(f.token);
        else
            for (const auto& word : pre_tokenize(std::string(f.text))) {
                if (v_.model == TokenizerModel::unigram) encode_unigram(word, out);
                else encode_bpe(word, out);
            }
    }
}

std::string Tokenizer::normalize(std::string_view text) const {
    std::string s(text);
    for (const auto& n : v_.normalize) {
        if (n.kind == NormalizeStep::nfc) s = nfc(s);
        else if (n.kind == NormalizeStep::replace) s = replace_all(s, n.from, n.to);
        else if (!s.empty()) s = n.to + s;  // prepend
    }
    return s;
}

std::vector<std::string> Tokenizer::pre_tokenize(std::string text) const {
    std::vector<std::string> pieces;
    if (text.empty()) return pieces;
    pieces.push_back(std::move(text));
    for (size_t k = 0; k < v_.pre.size(); ++k) {
        const PreTokenizeStep& step = v_.pre[k];
        switch (step.kind) {
            case PreTokenizeStep::regex_isolated: {
                std::vector<std::string> next;
                for (const auto& p : pieces)
                    for (auto& w : step_regex_[k]->split(p)) next.push_back(std::move(w));
                pieces = std::move(next);
                break;
            }
            case PreTokenizeStep::split_merged_with_previous: pieces = split_after(pieces, step.pattern); break;
            case PreTokenizeStep::byte_level:
                if (step.flag && !pieces.empty() && !pieces[0].starts_with(' ')) pieces[0] = ' ' + pieces[0];
                for (auto& p : pieces) {
                    std::string mapped;
                    for (char c : p) mapped += byte_to_unicode(uint8_t(c));
                    p = std::move(mapped);
                }
                break;
            case PreTokenizeStep::metaspace:
                for (auto& p : pieces) p = replace_all(p, " ", step.pattern);
                if (step.flag && !pieces.empty() && !pieces[0].starts_with(step.pattern)) pieces[0] = step.pattern + pieces[0];
                pieces = split_before(pieces, step.pattern);
                break;
            case PreTokenizeStep::digits: pieces = split_digits(pieces, step.flag); break;
        }
    }
    return pieces;
}

// SentencePiece as llama.cpp runs it: repeatedly merge the adjacent pair whose concatenation is the
// highest-scoring token (ties: leftmost), then emit each symbol's token or its bytes.
void Tokenizer::encode_spm(std::string_view text, std::vector<int32_t>& out) const {
    struct Sym {
        int prev, next;
        size_t off, len;
    };
    std::vector<Sym> sym;
    for (size_t off = 0; off < text.size();) {
        const size_t len = std::min(utf8_len(uint8_t(text[off])), text.size() - off);
        sym.push_back({int(sym.size()) - 1, -1, off, len});
        off += len;
    }
    if (sym.empty()) return;
    for (size_t i = 0; i + 1 < sym.size(); ++i) sym[i].next = int(i + 1);
    struct Bigram {
        float score;
        int left, right;
        size_t len;
        bool operator<(const Bigram& o) const { return score < o.score || (score == o.score && left > o.left); }
    };
    std::priority_queue<Bigram> queue;
    auto try_add = [&](int l, int r) {
        if (l < 0 || r < 0) return;
        const std::string_view s = text.substr(sym[size_t(l)].off, sym[size_t(l)].len + sym[size_t(r)].len);
        auto it = v_.id_of.find(s);
        if (it == v_.id_of.end()) return;
        queue.push({v_.score[size_t(it->second)], l, r, s.size()});
    };
    for (size_t i = 1; i < sym.size(); ++i) try_add(int(i - 1), int(i));
    while (!queue.empty()) {
        const Bigram b = queue.top();
        queue.pop();
        Sym& l = sym[size_t(b.left)];
        Sym& r = sym[size_t(b.right)];
        if (l.len == 0 || r.len == 0 || l.len + r.len != b.len) continue;  // outdated
        l.len += r.len;
        r.len = 0;
        l.next = r.next;
        if (r.next >= 0) sym[size_t(r.next)].prev = b.left;
        try_add(l.prev, b.left);
        try_add(b.left, l.next);
    }
    for (int i = 0; i >= 0; i = sym[size_t(i)].next) {
        const std::string_view s = text.substr(sym[size_t(i)].off, sym[size_t(i)].len);
        if (auto it = v_.id_of.find(s); it != v_.id_of.end()) {
            out.push_back(it->second);
            continue;
        }
        for (char c : s) {
            const int32_t bt = v_.byte_token[uint8_t(c)];
            if (bt >= 0) out.push_back(bt);
            else if (v_.unk >= 0) out.push_back(v_.unk);
        }
    }
}

// BPE: repeatedly apply the lowest-ranked merge among adjacent pairs (ties: leftmost). A heap of
// candidate pairs keeps this O(n log n) in the word length.
void Tokenizer::encode_bpe(std::string_view word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    if (v_.ignore_merges)
        if (auto it = v_.id_of.find(word); it != v_.id_of.end()) {
            out.push_back(it->second);
            return;
        }
    struct Sym {
        int32_t id;
        int prev, next;
    };
    std::vector<Sym> sym;
    for (size_t off = 0; off < word.size();) {
        const size_t len = std::min(utf8_len(uint8_t(word[off])), word.size() - off);
        const std::string_view ch = word.substr(off, len);
        off += len;
        if (auto it = v_.id_of.find(ch); it != v_.id_of.end()) {
            sym.push_back({it->second, 0, 0});
        } else if (v_.byte_fallback &&
                   std::all_of(ch.begin(), ch.end(), [&](char c) { return v_.byte_token[uint8_t(c)] >= 0; })) {
            for (char c : ch) sym.push_back({v_.byte_token[uint8_t(c)], 0, 0});
        } else if (v_.unk >= 0 && (sym.empty() || sym.back().id != v_.unk)) {
            sym.push_back({v_.unk, 0, 0});  // consecutive unknowns fuse into one
        }
    }
    for (size_t i = 0; i < sym.size(); ++i) {
        sym[i].prev = int(i) - 1;
        sym[i].next = i + 1 < sym.size() ? int(i + 1) : -1;
    }
    struct Pair {
        int32_t rank;
        int left;
        int32_t left_id, right_id, merged;
        bool operator>(const Pair& o) const { return rank > o.rank || (rank == o.rank && left > o.left); }
    };
    std::priority_queue<Pair, std::vector<Pair>, std::greater<>> queue;
    auto try_add = [&](int l) {
        if (l < 0 || sym[size_t(l)].next < 0) return;
        const int32_t a = sym[size_t(l)].id, b = sym[size_t(sym[size_t(l)].next)].id;
        auto it = v_.merges.find((uint64_t(uint32_t(a)) << 32) | uint32_t(b));
        if (it != v_.merges.end()) queue.push({it->second.first, l, a, b, it->second.second});
    };
    for (size_t i = 0; i + 1 < sym.size(); ++i) try_add(int(i));
    while (!queue.empty()) {
        const Pair p = queue.top();
        queue.pop();
        Sym& l = sym[size_t(p.left)];
        if (l.id != p.left_id || l.next < 0 || sym[size_t(l.next)].id != p.right_id) continue;  // outdated
        const int r = l.next;
        l.id = p.merged;
        l.next = sym[size_t(r)].next;
        if (l.next >= 0) sym[size_t(l.next)].prev = p.left;
        sym[size_t(r)].id = -1;
        try_add(l.prev);
        try_add(p.left);
    }
    for (int i = 0; i >= 0 && !sym.empty(); i = sym[size_t(i)].next) out.push_back(sym[size_t(i)].id);
}

// Unigram: the segmentation of `word` whose pieces' scores sum highest (Viterbi over character
// positions; ties go to the path whose last piece starts earliest, as the reference does).
// A character no piece covers scores min_score - 10 as <unk>; consecutive unknowns fuse, or with
// byte fallback become <0xXX> tokens.
void Tokenizer::encode_unigram(std::string_view word, std::vector<int32_t>& out) const {
    std::vector<size_t> off;  // byte offset of each character, then the end
    for (size_t i = 0; i < word.size(); i += std::min(utf8_len(uint8_t(word[i])), word.size() - i)) off.push_back(i);
    off.push_back(word.size());
    const size_t n = off.size() - 1;
    if (n == 0) return;
    const double unk_score = v_.unk_score;
    std::vector<double> best(n + 1, -INFINITY);
    std::vector<std::pair<size_t, int32_t>> back(n + 1, {0, -1});  // (start, token) of the last piece
    best[0] = 0;
    for (size_t i = 0; i < n; ++i) {
        bool single = false;
        for (size_t j = i + 1; j <= n && off[j] - off[i] <= v_.max_token_bytes; ++j) {
            auto it = v_.id_of.find(word.substr(off[i], off[j] - off[i]));
            if (it == v_.id_of.end()) continue;
            single |= j == i + 1;
            const double cand = best[i] + (it->second == v_.unk ? unk_score : double(v_.score[size_t(it->second)]));
            if (back[j].second < 0 || cand > best[j]) {
                best[j] = cand;
                back[j] = {i, it->second};
            }
        }
        if (!single && (back[i + 1].second < 0 || best[i] + unk_score > best[i + 1])) {
            best[i + 1] = best[i] + unk_score;
            back[i + 1] = {i, -2};  // -2: an unknown character
        }
    }
    std::vector<std::pair<size_t, int32_t>> path;  // (start, token) from the end backwards
    for (size_t e = n; e > 0; e = back[e].first) path.emplace_back(back[e].first, back[e].second);
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
        if (it->second != -2) {
            out.push_back(it->second);
            continue;
        }
        const std::string_view ch = word.substr(off[it->first], off[it->first + 1] - off[it->first]);
        if (v_.byte_fallback && std::all_of(ch.begin(), ch.end(), [&](char c) { return v_.byte_token[uint8_t(c)] >= 0; })) {
            for (char c : ch) out.push_back(v_.byte_token[uint8_t(c)]);
        } else if (v_.unk >= 0 && (out.empty() || out.back() != v_.unk)) {
            out.push_back(v_.unk);
        }
    }
}

std::string Tokenizer::piece(int32_t id, bool render_special) const {
    if (id < 0 || id >= v_.size()) return {};
    const std::string& t = v_.text[size_t(id)];
    switch (v_.attr[size_t(id)]) {
        case TokenAttr::control:
        case TokenAttr::unknown:
        case TokenAttr::unused: return render_special ? t : std::string();
        case TokenAttr::byte:
            if (t.size() == 6 && t.starts_with("<0x") && t[5] == '>') {
                unsigned byte = 0;
                if (std::from_chars(t.data() + 3, t.data() + 5, byte, 16).ptr == t.data() + 5) return std::string(1, char(byte));
            }
            break;
        case TokenAttr::normal:
        case TokenAttr::user_defined: break;  // added tokens go through the same decoding
    }
    if (v_.byte_level) return unicode_to_bytes(t);
    return replace_all(t, kSpace, " ");
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
    TokenStreamer s(*this, render_special);
    std::string out;
    for (int32_t id : ids) out += s.push(id);
    return out + s.flush();
}

std::string TokenStreamer::push(int32_t id) {
    std::string p = t_.piece(id, render_special_);
    if (p.empty()) return {};
    if (!started_) {
        started_ = true;
        if (t_.vocab().strip_leading_space && p[0] == ' ') p.erase(0, 1);
    }
    pending_ += p;
    const size_t n = utf8_complete_prefix(pending_);
    std::string ready = pending_.substr(0, n);
    pending_.erase(0, n);
    return ready;
}

std::string TokenStreamer::flush() { return std::exchange(pending_, {}); }

}  // namespace forge
