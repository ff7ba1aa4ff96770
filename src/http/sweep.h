// Private to src/http: checks on waits that are nearly always short (an origin's response
// head, a client still connected), run by one timer per io_context that ticks every 250 ms
// while any check is registered — instead of a timer, or a syscall, per request. A check
// costs two list operations when it ends before its first tick, which is the common case.
// Used on the io_context's own thread only.
#pragma once

#include <chrono>
#include <functional>
#include <list>

#include <boost/asio/any_io_executor.hpp>

namespace http {

class SweepService;

// The sweep of the io_context behind `ex`. Finding it takes a lock: look it up once per
// connection or pool, not per request.
SweepService& sweepOf(const boost::asio::any_io_executor& ex);

// Registered while alive. `fn` runs on each tick from `after` on, until it returns true.
// It must not destroy any SweepCheck (cancelling or closing sockets is fine: their
// completions run later).
class SweepCheck {
 public:
  SweepCheck(SweepService& sweep, std::chrono::milliseconds after, std::function<bool()> fn);
  ~SweepCheck();
  SweepCheck(const SweepCheck&) = delete;
  SweepCheck& operator=(const SweepCheck&) = delete;

 private:
  friend class SweepService;
  SweepService* service_;
  std::chrono::steady_clock::time_point due_;
  std::function<bool()> fn_;
  bool done_ = false;
  std::list<SweepCheck*>::iterator pos_;
};

}  // namespace http
