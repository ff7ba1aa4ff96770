// Private to src/tunnel: admission of the edge's client connections. At most `max_total`
// connections in all and `max_per_client` from one client — an IPv4 address, or an IPv6 /64,
// the block one subscriber usually holds — so that neither one client nor a flood can take
// every descriptor. Refusals are counted for a log line at most once a second.
// Thread-safe: one mutex, taken when a connection arrives and when it ends, never per request.
// Held through shared_ptr: a Ticket keeps its gate alive (connection coroutines can outlive
// the edge when the io_contexts are torn down at exit).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <boost/asio/ip/address.hpp>

namespace tunnel {

class ConnectionGate : public std::enable_shared_from_this<ConnectionGate> {
 public:
  enum class Verdict {
    Admitted,       // the connection holds a slot until its Ticket is destroyed
    PerClientFull,  // its client already holds max_per_client connections
    TotalFull,      // max_total connections are open
  };

  // A held slot; destroying it (or reset()) gives the slot back. Movable, not copyable.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& o) noexcept : gate_(std::move(o.gate_)), key_(o.key_) {}
    Ticket& operator=(Ticket&& o) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { reset(); }
    void reset();
    bool held() const { return gate_ != nullptr; }

   private:
    friend class ConnectionGate;
    std::shared_ptr<ConnectionGate> gate_;
    uint64_t key_ = 0;
  };

  // What was refused since the last report.
  struct Refusals {
    uint64_t per_client = 0;
    uint64_t total = 0;
  };

  static std::shared_ptr<ConnectionGate> create(size_t max_total, size_t max_per_client) {
    return std::shared_ptr<ConnectionGate>(new ConnectionGate(max_total, max_per_client));
  }

  // Takes a slot for a connection from `client` into *ticket, or says why not. With
  // `beyond_total`, the total cap is ignored (a slot is being freed to make room), never the
  // per-client one.
  Verdict admit(const boost::asio::ip::address& client, Ticket* ticket, bool beyond_total = false);
  // Refusals counted since the last report, once a second at most; nullopt otherwise.
  std::optional<Refusals> refusalsToReport(std::chrono::steady_clock::time_point now);

  size_t open() const;
  // Every refusal since the gate was made (the metrics' counters).
  Refusals refusedEver() const;
  size_t maxTotal() const { return max_total_; }
  size_t maxPerClient() const { return max_per_client_; }
  // The key a client counts under: the IPv4 address, or the first 64 bits of an IPv6 one.
  static uint64_t clientKey(const boost::asio::ip::address& a);

 private:
  ConnectionGate(size_t max_total, size_t max_per_client)
      : max_total_(max_total), max_per_client_(max_per_client) {}
  void release(uint64_t key);

  const size_t max_total_, max_per_client_;
  mutable std::mutex mu_;
  size_t open_ = 0;                                      // guarded by mu_
  std::unordered_map<uint64_t, uint32_t> by_client_;     // guarded by mu_; no zero counts
  Refusals refused_;                                     // guarded by mu_
  Refusals refused_ever_;                                // guarded by mu_
  std::chrono::steady_clock::time_point last_report_{};  // guarded by mu_
};

}  // namespace tunnel
