#include "cli/app_main.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "util/error.h"

namespace forge::cli {

int run_app(CLI::App& app, int argc, char** argv, const char* prog) {
    try {
        // llama.cpp spells some flags "-ngl", "-np", "-npp"; CLI11 only knows one-letter short flags.
        std::vector<std::string> args(argv + 1, argv + argc);
        for (auto& a : args) {
            if (a == "-ngl") a = "--n-gpu-layers";
            if (a == "-np") a = "--parallel";
            if (a == "-npp" || a == "-ntg" || a == "-npl") a = "-" + a;  // llama-batched-bench's spellings
        }
        std::reverse(args.begin(), args.end());  // CLI11 takes the arguments in reverse order
        app.parse(args);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const forge::Error& e) {
        std::fprintf(stderr, "%s: error: %s\n", prog, e.what());
        return 1;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "%s: error: out of memory\n", prog);
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: internal error: %s\n", prog, e.what());
        return 2;
    }
    return 0;
}

}  // namespace forge::cli
