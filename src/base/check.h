// CHECK(cond): always-on assertion for burrow's own invariants (never for bad input,
// which is a Result). On failure prints file:line and the condition, then aborts.
#pragma once

namespace base {
[[noreturn]] void checkFailed(const char* file, int line, const char* cond);
}

#define CHECK(cond) \
  ((cond) ? static_cast<void>(0) : ::base::checkFailed(__FILE__, __LINE__, #cond))
