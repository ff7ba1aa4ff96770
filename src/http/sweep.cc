#include "http/sweep.h"

#include <optional>

#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace http {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {
constexpr auto kTick = std::chrono::milliseconds(250);
}

// One per io_context (an Asio service: it goes when the context does).
class SweepService : public asio::execution_context::service {
 public:
  using key_type = SweepService;
  static inline asio::execution_context::id id;

  explicit SweepService(asio::execution_context& ctx) : service(ctx) {}
  void setExecutor(const asio::any_io_executor& ex) {
    if (!timer_ && !shut_) timer_.emplace(ex);
  }

  void add(SweepCheck* c) {
    c->pos_ = checks_.insert(checks_.end(), c);
    if (shut_) return;
    if (!ticking_) arm();
  }
  void remove(SweepCheck* c) {
    if (sweeping_ && next_ == c->pos_) ++next_;
    checks_.erase(c->pos_);
  }

 private:
  // Checks may still be destroyed after this (with the handlers the context destroys): the
  // list stays, only the ticking ends.
  void shutdown() override {
    shut_ = true;
    timer_.reset();
  }

  void arm() {
    ticking_ = true;
    timer_->expires_after(kTick);
    timer_->async_wait([this](const boost::system::error_code& ec) {
      ticking_ = false;
      if (ec) return;
      sweep();
      if (!checks_.empty() && !shut_) arm();
    });
  }

  void sweep() {
    auto now = Clock::now();
    sweeping_ = true;
    for (auto it = checks_.begin(); it != checks_.end(); it = next_) {
      next_ = std::next(it);
      SweepCheck* c = *it;
      if (!c->done_ && now >= c->due_ && c->fn_()) c->done_ = true;
    }
    sweeping_ = false;
  }

  std::list<SweepCheck*> checks_;
  std::list<SweepCheck*>::iterator next_;  // during sweep(): the next check to look at
  bool sweeping_ = false;
  std::optional<asio::steady_timer> timer_;
  bool ticking_ = false;
  bool shut_ = false;
};

SweepService& sweepOf(const asio::any_io_executor& ex) {
  auto& s = asio::use_service<SweepService>(asio::query(ex, asio::execution::context));
  s.setExecutor(ex);
  return s;
}

SweepCheck::SweepCheck(SweepService& sweep, std::chrono::milliseconds after,
                       std::function<bool()> fn)
    : service_(&sweep), due_(Clock::now() + after), fn_(std::move(fn)) {
  service_->add(this);
}

SweepCheck::~SweepCheck() { service_->remove(this); }

}  // namespace http
