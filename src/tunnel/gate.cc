#include "tunnel/gate.h"

namespace tunnel {

ConnectionGate::Ticket& ConnectionGate::Ticket::operator=(Ticket&& o) noexcept {
  if (this != &o) {
    reset();
    gate_ = std::move(o.gate_);
    key_ = o.key_;
  }
  return *this;
}

void ConnectionGate::Ticket::reset() {
  if (gate_) gate_->release(key_);
  gate_.reset();
}

uint64_t ConnectionGate::clientKey(const boost::asio::ip::address& a) {
  if (a.is_v4()) return (uint64_t{1} << 63) | a.to_v4().to_uint();
  auto v6 = a.to_v6();
  if (v6.is_v4_mapped())
    return clientKey(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6));
  auto b = v6.to_bytes();
  uint64_t k = 0;
  for (int i = 0; i < 8; ++i) k = (k << 8) | b[i];
  return k & ~(uint64_t{1} << 63);  // apart from every IPv4 key
}

ConnectionGate::Verdict ConnectionGate::admit(const boost::asio::ip::address& client,
                                              Ticket* ticket, bool beyond_total) {
  uint64_t key = clientKey(client);
  std::lock_guard lock(mu_);
  auto it = by_client_.find(key);
  uint32_t held = it == by_client_.end() ? 0 : it->second;
  if (held >= max_per_client_) {
    ++refused_.per_client;
    ++refused_ever_.per_client;
    return Verdict::PerClientFull;
  }
  if (open_ >= max_total_ && !beyond_total) {
    ++refused_.total;
    ++refused_ever_.total;
    return Verdict::TotalFull;
  }
  ++open_;
  if (it == by_client_.end())
    by_client_.emplace(key, 1);
  else
    ++it->second;
  ticket->reset();
  ticket->gate_ = shared_from_this();
  ticket->key_ = key;
  return Verdict::Admitted;
}

void ConnectionGate::release(uint64_t key) {
  std::lock_guard lock(mu_);
  --open_;
  auto it = by_client_.find(key);
  if (it != by_client_.end() && --it->second == 0) by_client_.erase(it);
}

std::optional<ConnectionGate::Refusals> ConnectionGate::refusalsToReport(
    std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mu_);
  if (refused_.per_client + refused_.total == 0 || now - last_report_ < std::chrono::seconds(1))
    return std::nullopt;
  last_report_ = now;
  return std::exchange(refused_, Refusals{});
}

size_t ConnectionGate::open() const {
  std::lock_guard lock(mu_);
  return open_;
}

}  // namespace tunnel

namespace tunnel {

ConnectionGate::Refusals ConnectionGate::refusedEver() const {
  std::lock_guard lock(mu_);
  return refused_ever_;
}

}  // namespace tunnel
