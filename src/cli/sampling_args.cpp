#include "cli/sampling_args.h"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "util/error.h"

namespace forge::cli {

SamplerParams SamplingArgs::resolve() const {
    SamplerParams p = params;
    for (const std::string& s : logit_bias) {
        const size_t sign = s.find_first_of("+-", 1);
        int32_t id = -1;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + (sign == std::string::npos ? s.size() : sign), id);
        if (sign == std::string::npos || ec != std::errc() || end != s.data() + sign || id < 0)
            throw UsageError(fmt::format("--logit-bias '{}': expected TOKEN_ID+BIAS, TOKEN_ID-BIAS or TOKEN_ID-inf", s));
        const std::string value = s.substr(sign);
        float bias = 0;
        if (value == "-inf") {
            bias = -INFINITY;
        } else {
            const char* b = value.data() + (value[0] == '+' ? 1 : 0);
            const auto [e2, ec2] = std::from_chars(b, value.data() + value.size(), bias);
            if (ec2 != std::errc() || e2 != value.data() + value.size())
                throw UsageError(fmt::format("--logit-bias '{}': '{}' is not a number", s, value));
        }
        p.logit_bias[id] += bias;
    }
    return p;
}

void add_sampling_args(CLI::App* cmd, SamplingArgs& a) {
    SamplerParams& p = a.params;
    cmd->add_option("--temp", p.temperature, "Temperature; 0 is greedy")->capture_default_str();
    cmd->add_option("--top-k", p.top_k, "Top-k (0: off)")->capture_default_str();
    cmd->add_option("--top-p", p.top_p, "Top-p (1: off)")->capture_default_str();
    cmd->add_option("--min-p", p.min_p, "Min-p (0: off)")->capture_default_str();
    cmd->add_option("-s,--seed", p.seed, "Random seed")->capture_default_str();
    cmd->add_option("--repeat-penalty", p.repeat_penalty, "Repetition penalty (1: off)")->capture_default_str();
    cmd->add_option("--repeat-last-n", p.penalty_last_n, "Tokens the penalties look back over (0: off, -1: all)")
        ->capture_default_str();
    cmd->add_option("--presence-penalty", p.presence_penalty, "Presence penalty (0: off)")->capture_default_str();
    cmd->add_option("--frequency-penalty", p.frequency_penalty, "Frequency penalty (0: off)")->capture_default_str();
    cmd->add_option("-l,--logit-bias", a.logit_bias, "TOKEN_ID+BIAS, TOKEN_ID-BIAS or TOKEN_ID-inf (repeatable)");
    cmd->add_option("-r,--reverse-prompt,--stop", a.stop, "Stop when this text is generated (repeatable)");
    cmd->add_flag("--ignore-eos", a.ignore_eos, "Keep generating after the end-of-sequence token");
}

}  // namespace forge::cli
