// libFuzzer target: burrow.yaml bytes -> parseStack. A stack file is user input: parsing must
// never crash, hang or throw, and what parses must keep the promises validation makes (one
// of unit and exec, every name it refers to defined, routes ending in a catch-all).
//
// parseStack reads the files the stack names. The YAML's source is a file in a private
// directory holding a unit file (app.service), a wg-quick file (peer.conf) and a directory
// (data), so that `unit: app.service`, `configFile: peer.conf` and `binds: [data:/d]` reach
// their checks. Inputs that could name something that blocks when read (a FIFO, /dev/kmsg, a
// terminal) are not parsed: paths under /dev, /proc, /run and /sys, paths climbing out with
// "..", and double-quoted YAML escapes that could spell them.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.h"
#include "config/config.h"
#include "fixture.h"

namespace {

constexpr const char kApp[] =
    "[Service]\n"
    "ExecStart=/usr/bin/app --port 8080\n"
    "ProtectSystem=strict\n";

// The path given as the YAML's source, inside the fixture directory.
const std::string& yamlSource() {
  static const std::string source =
      fuzz::makeFixture("stack",
                        {{"app.service", kApp}, {"peer.conf", fuzz::kPeerConf}, {"data/", ""}}) +
      "/burrow.yaml";
  return source;
}

void checkStack(const config::Stack& stack) {
  std::vector<std::string> names;
  for (const config::StackService& s : stack.services) names.push_back(s.name);
  auto known = [&](const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  size_t private_links = 0;
  for (const config::StackService& s : stack.services) {
    if (s.unit.has_value() == !s.exec.empty()) __builtin_trap();
    for (const auto* list : {&s.connects, &s.after, &s.binds_to}) {
      for (const std::string& name : *list) {
        if (!known(name) || name == s.name) __builtin_trap();
      }
    }
    if (s.network == config::StackNetwork::Vpn) {
      bool found = false;
      for (const config::NamespaceConfig& ns : stack.namespaces) found = found || ns.name == s.vpn;
      if (!found) __builtin_trap();
    }
    for (const config::StackBind& b : s.binds) {
      if (b.target.empty() || b.target[0] != '/' || b.source.empty()) __builtin_trap();
    }
    if (s.network == config::StackNetwork::Private) ++private_links;
  }
  const int prefix = std::atoi(stack.pool.c_str() + stack.pool.find('/') + 1);
  if (prefix < 0 || prefix > 32 || (private_links > 0 && prefix > 30)) __builtin_trap();
  if (private_links > 0 && private_links > (size_t{1} << (30 - prefix))) __builtin_trap();
  for (const config::IngressRule& r : stack.routes) {
    if (!r.service.name.empty() && !known(r.service.name)) __builtin_trap();
  }
  if (!stack.routes.empty()) {
    const config::IngressRule& last = stack.routes.back();
    if (!(last.hostname.empty() || last.hostname == "*") || !last.path.empty()) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  base::setLogLevel(base::LogLevel::Off);  // unknown-key warnings would flood stderr
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (fuzz::mayEscapeFixture(text)) return 0;
  if (auto stack = config::parseStack(text, yamlSource())) checkStack(*stack);
  return 0;
}
