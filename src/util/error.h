// Typed errors for bad input. Every user-facing failure (a broken file, a bad flag, a malformed
// request) throws one of these with a message naming the thing and what was expected; the CLI
// prints the message on one line and exits 1. `assert` is only for internal invariants.
#pragma once

#include <stdexcept>
#include <string>

namespace forge {

// Base class: anything the user can fix by changing their input.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A file (GGUF, safetensors, JSON, test vectors) that is truncated, inconsistent or unsupported.
class FormatError : public Error {
public:
    using Error::Error;
};

// A command-line flag or argument that makes no sense.
class UsageError : public Error {
public:
    using Error::Error;
};

}  // namespace forge
