// The one restart policy: systemd's Restart= values and a backoff for services that keep
// failing (see supervise.h).
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>

#include "base/base.h"
#include "supervise/supervise.h"

namespace supervise {

base::Result<Restart> parseRestart(std::string_view text) {
  static constexpr std::pair<std::string_view, Restart> kValues[] = {
      {"no", Restart::No},
      {"on-success", Restart::OnSuccess},
      {"on-failure", Restart::OnFailure},
      {"on-abnormal", Restart::OnAbnormal},
      {"on-abort", Restart::OnAbort},
      {"on-watchdog", Restart::OnWatchdog},
      {"always", Restart::Always}};
  for (auto [name, value] : kValues)
    if (name == text) return value;
  return base::invalid(
      "Restart={}: expected no, on-success, on-failure, on-abnormal, on-abort, on-watchdog or "
      "always",
      text);
}

Exit Exit::fromWaitStatus(int status) {
  if (WIFSIGNALED(status)) return {false, WTERMSIG(status)};
  return {WIFEXITED(status) && WEXITSTATUS(status) == 0, 0};
}

Exit Exit::fromCode(int code) {
  if (code > 128 && code < 128 + 65) return {false, code - 128};
  return {code == 0, 0};
}

// systemd.service(5), "Table 2. Exit causes and the effect of the Restart= settings" (no
// watchdog and no timeout here: a clean exit, an unclean exit code, or a signal).
bool shouldRestart(Restart policy, const Exit& e) {
  const bool clean_signal =
      e.signal == SIGHUP || e.signal == SIGINT || e.signal == SIGTERM || e.signal == SIGPIPE;
  const bool clean = e.clean || clean_signal;
  switch (policy) {
    case Restart::No:
    case Restart::OnWatchdog:
      return false;
    case Restart::Always:
      return true;
    case Restart::OnSuccess:
      return clean;
    case Restart::OnFailure:
      return !clean;
    case Restart::OnAbnormal:
      return e.signal != 0 && !clean_signal;
    case Restart::OnAbort:
      return e.signal != 0 && !clean_signal;
  }
  return false;
}

std::chrono::milliseconds Backoff::next(std::chrono::milliseconds ran_for) {
  if (ran_for >= kSettled) failures_ = 0;
  auto delay = base_;
  for (int i = 0; i < failures_ && delay < kMax; ++i) delay *= 2;
  ++failures_;
  return std::min(delay, std::max(base_, kMax));
}

}  // namespace supervise
