// Result<T> and Error: how every fallible function in burrow reports failure.
// Error carries a std::error_code and a human context string ("setns(/run/netns/x)").
// Result<T> is a [[nodiscard]] tl::expected<T, Error>; moving to std::expected later
// edits this file only. Values are plain data: no ownership, safe to copy across threads.
#pragma once

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

#include <fmt/core.h>
#include <tl/expected.hpp>

namespace base {

struct Error {
  std::error_code code;
  std::string context;

  // "context: strerror text", or just the context when the code carries no message.
  std::string message() const;
};

template <class T = void>
class [[nodiscard]] Result : public tl::expected<T, Error> {
 public:
  using Base = tl::expected<T, Error>;
  using Base::Base;
  Result(Base b) : Base(std::move(b)) {}  // NOLINT(google-explicit-constructor)
};

using Unexpected = tl::unexpected<Error>;

inline Unexpected makeError(std::errc code, std::string context) {
  return Unexpected(Error{std::make_error_code(code), std::move(context)});
}

template <class... Args>
Unexpected makeError(std::errc code, fmt::format_string<Args...> f, Args&&... args) {
  return makeError(code, fmt::format(f, std::forward<Args>(args)...));
}

// An error from the last failed syscall: captures errno before formatting touches it.
template <class... Args>
Unexpected sysError(fmt::format_string<Args...> f, Args&&... args) {
  const int saved = errno;
  return Unexpected(
      Error{std::error_code(saved, std::system_category()), fmt::format(f, std::forward<Args>(args)...)});
}

// A validation failure with no errno behind it: code is invalid_argument.
template <class... Args>
Unexpected invalid(fmt::format_string<Args...> f, Args&&... args) {
  return makeError(std::errc::invalid_argument, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace base

#define BURROW_CONCAT_INNER(a, b) a##b
#define BURROW_CONCAT(a, b) BURROW_CONCAT_INNER(a, b)

// Returns the error of a Result-valued expression from the enclosing function.
#define RETURN_IF_ERROR(expr)                                     \
  do {                                                            \
    auto&& burrow_r_ = (expr);                                    \
    if (!burrow_r_) return ::base::Unexpected(burrow_r_.error()); \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)               \
  auto tmp = (expr);                                        \
  if (!tmp) return ::base::Unexpected(std::move(tmp).error()); \
  lhs = std::move(*tmp)

// `ASSIGN_OR_RETURN(auto x, f());` declares x from f()'s value or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(BURROW_CONCAT(burrow_v_, __LINE__), lhs, expr)

// The same two for coroutines (co_return instead of return).
#define CO_RETURN_IF_ERROR(expr)                                     \
  do {                                                               \
    auto&& burrow_r_ = (expr);                                       \
    if (!burrow_r_) co_return ::base::Unexpected(burrow_r_.error()); \
  } while (0)

#define CO_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)                  \
  auto tmp = (expr);                                              \
  if (!tmp) co_return ::base::Unexpected(std::move(tmp).error()); \
  lhs = std::move(*tmp)

#define CO_ASSIGN_OR_RETURN(lhs, expr) \
  CO_ASSIGN_OR_RETURN_IMPL(BURROW_CONCAT(burrow_v_, __LINE__), lhs, expr)
