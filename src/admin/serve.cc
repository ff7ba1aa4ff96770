// admin::serve: the dashboard as a process of its own (`burrow dashboard`), one thread.
#include <signal.h>

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>

#include "admin/admin.h"
#include "base/base.h"
#include "base/log.h"

namespace admin {
namespace {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

// More connections than a few people's pages need; beyond it a new one is closed at once.
constexpr int kMaxConnections = 64;

struct Server {
  Handler& handler;
  std::shared_ptr<int> open = std::make_shared<int>(0);

  http::Task<void> serve(tcp::socket sock) {
    struct Leave {
      std::shared_ptr<int> n;
      ~Leave() { --*n; }
    } leave{open};
    http::ServerLimits limits;
    limits.max_head_bytes = 8 * 1024;
    limits.idle_timeout = std::chrono::seconds(30);
    limits.body_timeout = std::chrono::seconds(10);
    limits.send_timeout = std::chrono::seconds(30);
    co_await http::serveHttp1(std::move(sock), handler, limits);
  }

  http::Task<void> accept(tcp::acceptor& acc) {
    const auto ex = co_await asio::this_coro::executor;
    for (;;) {
      auto [ec, sock] = co_await acc.async_accept(as_tuple(use_awaitable));
      if (ec == asio::error::operation_aborted || !acc.is_open()) co_return;
      if (ec) {  // out of descriptors, most likely: wait a little rather than spin
        LOG_WARN("dashboard accept failed error={}", ec.message());
        asio::steady_timer t(ex, std::chrono::milliseconds(100));
        (void)co_await t.async_wait(as_tuple(use_awaitable));
        continue;
      }
      if (*open >= kMaxConnections) {
        LOG_WARN("dashboard connection refused: {} open already", kMaxConnections);
        continue;  // the socket closes here
      }
      ++*open;
      asio::co_spawn(ex, serve(std::move(sock)), asio::detached);
    }
  }
};

}  // namespace

base::Result<int> serve(const std::string& addr, Kind kind, Source& source, Actions* actions,
                        Login login) {
  RETURN_IF_ERROR(checkAddress(addr, login != nullptr));
  ASSIGN_OR_RETURN(base::HostPort hp, base::splitHostPort(addr, /*port_zero_ok=*/true));
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(hp.host == "localhost" ? "127.0.0.1" : hp.host, ec);
  if (ec) return base::invalid("--admin {}: not an address", addr);
  // Made before the executor, so that coroutine frames the executor destroys find them.
  Handler handler(kind, source, actions, std::move(login));
  Server server{handler};
  asio::io_context ioc(1);
  tcp::acceptor acc(ioc);
  const tcp::endpoint ep(ip, hp.port);
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return base::Unexpected(base::Error{ec, fmt::format("--admin {}: cannot listen", addr)});
  asio::co_spawn(ioc, server.accept(acc), asio::detached);
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& e, int sig) {
    if (e) return;
    LOG_INFO("dashboard stopping signal={}", sig == SIGINT ? "SIGINT" : "SIGTERM");
    handler.stop();
    acc.close();
    ioc.stop();
  });
  const tcp::endpoint bound = acc.local_endpoint();
  LOG_INFO("dashboard ready address={}",
           bound.address().is_v6()
               ? fmt::format("[{}]:{}", bound.address().to_string(), bound.port())
               : fmt::format("{}:{}", bound.address().to_string(), bound.port()));
  ioc.run();
  return 0;
}

}  // namespace admin
