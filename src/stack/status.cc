// `burrow ps` and `burrow logs`: what the record of a stack says, checked against the system.
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/base.h"
#include "netns/netns.h"
#include "stack/internal.h"
#include "stack/stack.h"

namespace stack {
namespace {

using nlohmann::json;

ServiceState fromRow(const json& row) {
  ServiceState s;
  s.name = row.value("name", "");
  s.network = row.value("network", "");
  s.address = row.value("address", "");
  s.state = row.value("state", "");
  s.pid = row.value("pid", 0);
  s.restarts = row.value("restarts", 0);
  s.started_unix = row.value("started", int64_t{0});
  s.last_exit = row.value("last_exit", "");
  s.user_base = row.value("user_base", 0u);
  s.exposure = row.value("exposure", -1.0);
  s.band = row.value("band", "");
  s.worst = row.value("worst", std::vector<std::string>{});
  return s;
}

// The last `n` lines of a log (from its last 4 KiB), each cut at 300 bytes.
std::vector<std::string> tail(const std::string& path, size_t n) {
  std::vector<std::string> lines;
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return lines;
  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) return lines;
  constexpr off_t kWindow = 4096;
  const off_t from = std::max<off_t>(0, st.st_size - kWindow);
  std::string buf(static_cast<size_t>(st.st_size - from), '\0');
  const ssize_t got = ::pread(fd.get(), buf.data(), buf.size(), from);
  if (got <= 0) return lines;
  buf.resize(static_cast<size_t>(got));
  std::string_view text = buf;
  if (from > 0) {  // the first line is cut: it goes
    const size_t nl = text.find('\n');
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
  }
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    lines.emplace_back(line.substr(0, 300));
  }
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<ptrdiff_t>(n));
  return lines;
}

std::string uptime(int64_t since) {
  if (since <= 0) return "-";
  int64_t s = std::max<int64_t>(0, ::time(nullptr) - since);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d{}h", s / 86400, (s % 86400) / 3600);
}

}  // namespace

std::string absolutePath(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) ? std::string(buf) : path;
}

base::Result<void> sameFile(const std::string& state_dir, const std::string& recorded,
                            const std::string& file) {
  if (file.empty() || recorded.empty() || absolutePath(file) == recorded) return {};
  return base::invalid("the stack on {} runs {}, not {}", state_dir, recorded, absolutePath(file));
}

base::Result<Status> status(const std::string& state_dir, const std::string& file) {
  Status st;
  auto text = base::readFile(recordPath(state_dir));
  if (!text) {
    if (text.error().code == std::errc::no_such_file_or_directory) return st;
    return base::Unexpected(text.error());
  }
  json rec = json::parse(*text, nullptr, false);
  if (!rec.is_object()) return base::invalid("{}: not a stack record", recordPath(state_dir));
  st.supervisor = rec.value("supervisor", 0);
  st.file = rec.value("file", "");
  RETURN_IF_ERROR(sameFile(state_dir, st.file, file));
  base::UniqueFd lock(::open((stackDir(state_dir) + "/lock").c_str(), O_RDONLY | O_CLOEXEC));
  st.running = lock && ::flock(lock.get(), LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
  for (const auto& row : rec.value("services", json::array())) st.services.push_back(fromRow(row));
  if (rec.contains("connector")) st.connector = fromRow(rec["connector"]);
  if (rec.contains("dashboard")) st.dashboard = fromRow(rec["dashboard"]);
  st.admin = rec.value("admin", "");
  st.generation = rec.value("generation", 0);
  st.admin_actions = rec.value("admin_actions", false);
  st.admin_users = rec.value("admin_users", "");
  st.admin_access = rec.value("admin_access", "");
  for (const auto& n : rec.value("namespaces", json::array())) {
    Status::Namespace ns{n.get<std::string>(), "down"};
    if (auto all = netns::status(state_dir, ns.name); all && !all->empty()) {
      ns.state = netns::stateOf(all->front());
      ns.last_handshake = all->front().last_handshake;
      ns.rx_bytes = all->front().rx_bytes;
      ns.tx_bytes = all->front().tx_bytes;
    }
    st.namespaces.push_back(ns);
  }
  for (const auto& r : rec.value("routes", json::array()))
    st.routes.push_back({r.value("hostname", ""), r.value("path", ""), r.value("rule", ""),
                         r.value("service", ""), r.value("target", ""),
                         r.value("middlewares", std::vector<std::string>{})});
  for (auto& s : st.services) s.log = tail(logPath(state_dir, s.name), 5);
  auto check = [&](ServiceState& s) {
    if (!st.running) {
      s.state = "gone (no supervisor)";
      s.pid = 0;
    } else if (s.pid > 0 && !base::processRunning(s.pid)) {
      s.state = "exited";  // the supervisor has not seen it yet
    }
  };
  for (auto& s : st.services) check(s);
  if (st.connector) check(*st.connector);
  if (st.dashboard) check(*st.dashboard);
  return st;
}

std::string formatStatus(const Status& s) {
  if (s.services.empty() && !s.connector) return "no stack is up\n";
  std::string out =
      fmt::format("{:<16} {:<12} {:>7}  {:<15} {:<12} {:>8}  {:<8} {}\n", "NAME", "STATE", "PID",
                  "ADDRESS", "NETWORK", "RESTARTS", "UPTIME", "LAST EXIT");
  auto row = [&](const ServiceState& r) {
    out += fmt::format("{:<16} {:<12} {:>7}  {:<15} {:<12} {:>8}  {:<8} {}\n", r.name, r.state,
                       r.pid ? std::to_string(r.pid) : "-", r.address.empty() ? "-" : r.address,
                       r.network, r.restarts, r.pid ? uptime(r.started_unix) : "-",
                       r.last_exit.empty() ? "-" : r.last_exit);
  };
  for (const auto& r : s.services) row(r);
  if (s.connector) row(*s.connector);
  if (s.dashboard) row(*s.dashboard);
  for (const auto& n : s.namespaces)
    out += fmt::format("namespace {}: {}{}\n", n.name, n.state,
                       n.last_handshake ? fmt::format(", last handshake {}s ago",
                                                      ::time(nullptr) - n.last_handshake)
                                        : "");
  if (!s.running)
    out += fmt::format("no supervisor runs (it was pid {}): burrow down removes what is left\n",
                       s.supervisor);
  return out;
}

std::string formatStatusJson(const Status& s) {
  auto row = [](const ServiceState& r) {
    return json{{"name", r.name},
                {"state", r.state},
                {"pid", r.pid},
                {"address", r.address},
                {"network", r.network},
                {"restarts", r.restarts},
                {"started", r.started_unix},
                {"last_exit", r.last_exit},
                {"user_base", r.user_base}};
  };
  json services = json::array();
  for (const auto& r : s.services) {
    json j = row(r);
    j["exposure"] = r.exposure >= 0 ? json(r.exposure) : json(nullptr);
    j["band"] = r.band;
    j["worst"] = r.worst;
    j["log"] = r.log;
    services.push_back(std::move(j));
  }
  json namespaces = json::array();
  for (const auto& n : s.namespaces)
    namespaces.push_back({{"name", n.name},
                          {"state", n.state},
                          {"last_handshake", n.last_handshake},
                          {"rx_bytes", n.rx_bytes},
                          {"tx_bytes", n.tx_bytes}});
  json routes = json::array();
  for (const auto& r : s.routes)
    routes.push_back({{"hostname", r.hostname},
                      {"path", r.path},
                      {"rule", r.rule},
                      {"service", r.service},
                      {"target", r.target},
                      {"middlewares", r.middlewares}});
  json j = {{"now", static_cast<int64_t>(::time(nullptr))},
            {"running", s.running},
            {"supervisor", s.supervisor},
            {"generation", s.generation},
            {"file", s.file},
            {"services", services},
            {"namespaces", namespaces},
            {"routes", routes},
            {"connector", nullptr},
            {"dashboard", nullptr},
            {"admin", s.admin},
            {"admin_actions", s.admin_actions},
            {"admin_users", s.admin_users},
            {"admin_access", s.admin_access}};
  if (s.connector) j["connector"] = row(*s.connector);
  if (s.dashboard) j["dashboard"] = row(*s.dashboard);
  // Log lines are the services' own bytes: whatever is not UTF-8 is replaced, never thrown.
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

base::Result<void> logs(const std::string& state_dir, const std::string& file,
                        const std::string& service, bool follow) {
  ASSIGN_OR_RETURN(Status st, status(state_dir, file));
  const std::string path = logPath(state_dir, service);
  if (::access(path.c_str(), F_OK) < 0)
    return base::makeError(std::errc::no_such_file_or_directory,
                           "no log for service {} in {} (is it a service of the stack?)", service,
                           stackDir(state_dir) + "/logs");
  for (const std::string& p : {path + ".1", path})
    if (auto t = base::readFile(p, size_t{64} << 20)) std::fwrite(t->data(), 1, t->size(), stdout);
  std::fflush(stdout);
  if (!follow) return {};
  // Follows the file as `tail -F` does: a rotation (another inode) starts the new file over.
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return base::sysError("open {}", path);
  ::lseek(fd.get(), 0, SEEK_END);
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n > 0) {
      std::fwrite(buf, 1, static_cast<size_t>(n), stdout);
      std::fflush(stdout);
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    struct stat a {
    }, b{};
    if (::fstat(fd.get(), &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_ino != b.st_ino)
      fd = base::UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  }
}

}  // namespace stack
