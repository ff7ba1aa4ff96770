// Ingress matching with cloudflared's semantics, and the hostname checks parsing uses.
#include <re2/re2.h>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/base.h"
#include "config/config.h"
#include "config/ingress_internal.h"
#include "config/rule.h"

namespace config {
namespace {

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lowerAscii(a[i]) != lowerAscii(b[i])) return false;
  }
  return true;
}

std::string_view stripBrackets(std::string_view h) {
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') return h.substr(1, h.size() - 2);
  return h;
}

// `host` has no port, and no trailing dot.
bool hostMatches(std::string_view rule, std::string_view host) {
  if (rule.empty() || rule == "*") return true;
  if (rule.starts_with("*.")) {
    // Keep the dot: "*.example.com" must not match "badexample.com" nor the apex.
    std::string_view suffix = rule.substr(1);
    return host.size() > suffix.size() &&
           equalsIgnoreCase(host.substr(host.size() - suffix.size()), suffix);
  }
  return equalsIgnoreCase(stripBrackets(rule), host);
}

}  // namespace

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lowerAscii(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string percentDecode(std::string_view s, bool (*keep)(std::string_view escape)) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hexValue(s[i + 1]);
      int lo = hexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        if (keep != nullptr && keep(s.substr(i, 3)))
          out.append(s.substr(i, 3));
        else
          out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string_view hostWithoutPort(std::string_view host) {
  if (host.starts_with('[')) {
    size_t close = host.find(']');
    if (close == std::string_view::npos) return host;
    return host.substr(1, close - 1);
  }
  size_t colon = host.find(':');
  // Two or more colons: an unbracketed IPv6 address, which cannot carry a port.
  if (colon == std::string_view::npos || host.find(':', colon + 1) != std::string_view::npos) {
    return host;
  }
  return host.substr(0, colon);
}

base::Result<void> checkHostname(std::string_view hostname) {
  if (hostname.find("://") != std::string_view::npos) {
    return base::invalid("hostname '{}' must not include a scheme; write only the host name",
                         hostname);
  }
  if (hostname.find('/') != std::string_view::npos) {
    return base::invalid("hostname '{}' cannot contain a path; put the path in the rule's path:",
                         hostname);
  }
  for (unsigned char c : hostname) {
    if (c <= 0x20 || c == 0x7f) {
      return base::invalid("hostname '{}' contains white space or control characters", hostname);
    }
  }
  bool has_port = false;
  if (hostname.starts_with('[')) {
    size_t close = hostname.find(']');
    has_port = close != std::string_view::npos && close + 1 < hostname.size() &&
               hostname[close + 1] == ':';
  } else {
    // One colon is host:port; more is an unbracketed IPv6 literal.
    size_t colon = hostname.find(':');
    has_port =
        colon != std::string_view::npos && hostname.find(':', colon + 1) == std::string_view::npos;
  }
  if (has_port) return base::invalid("hostname '{}': hostname cannot contain a port", hostname);
  size_t star = hostname.find('*');
  if (star != std::string_view::npos) {
    bool ok = star == 0 && hostname.find('*', 1) == std::string_view::npos &&
              (hostname == "*" || (hostname.starts_with("*.") && hostname.size() > 2));
    if (!ok) {
      return base::invalid(
          "hostname '{}': hostname patterns can have at most one wildcard character (\"*\") and "
          "it can only be used for subdomains, e.g. \"*.example.com\"",
          hostname);
    }
  }
  return {};
}

size_t matchIngress(const TunnelConfig& cfg, const RouteRequest& req) {
  CHECK(!cfg.ingress.empty());
  // Rules with `rule:` first: the highest priority whose rule matches, the earliest on a tie.
  // A rule is evaluated only when it could beat the best match so far.
  std::optional<RuleRequest> prepared;
  std::optional<size_t> best;
  for (size_t i = 0; i < cfg.ingress.size(); ++i) {
    const IngressRule& rule = cfg.ingress[i];
    if (rule.matcher == nullptr) continue;
    if (best && rule.priority <= cfg.ingress[*best].priority) continue;
    if (!prepared) prepared.emplace(req);
    if (rule.matcher->matches(*prepared)) best = i;
  }
  if (best) return *best;

  std::string_view h = hostWithoutPort(req.host);
  // "example.com." names the same host as "example.com".
  if (h.size() > 1 && h.back() == '.') h.remove_suffix(1);
  std::string_view path = req.target.substr(0, req.target.find_first_of("?#"));
  std::string decoded;
  if (path.find('%') != std::string_view::npos) {
    // Go matches rules against URL.Path, which is percent-decoded.
    decoded = percentDecode(path);
    path = decoded;
  }
  for (size_t i = 0; i < cfg.ingress.size(); ++i) {
    const IngressRule& rule = cfg.ingress[i];
    if (rule.matcher != nullptr) continue;
    if (!hostMatches(rule.hostname, h)) continue;
    if (rule.path_re != nullptr && !re2::RE2::PartialMatch(path, *rule.path_re)) continue;
    return i;
  }
  // Unreachable for a parsed config (its last rule matches everything); a hand-built one
  // falls back to its last rule, as cloudflared does.
  return cfg.ingress.size() - 1;
}

size_t matchIngress(const TunnelConfig& cfg, std::string_view host, std::string_view path) {
  RouteRequest req;
  req.host = host;
  req.target = path;
  return matchIngress(cfg, req);
}

bool hasRouteRules(const TunnelConfig& cfg) {
  return std::any_of(cfg.ingress.begin(), cfg.ingress.end(),
                     [](const IngressRule& r) { return r.matcher != nullptr; });
}

base::Result<std::string> describeMatch(const TunnelConfig& cfg, std::string_view url) {
  size_t sep = url.find("://");
  std::string_view rest = sep == std::string_view::npos ? "" : url.substr(sep + 3);
  size_t auth_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, auth_end);
  // user:password@host: only the host takes part in matching.
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  if (sep == std::string_view::npos || sep == 0 || hostWithoutPort(authority).empty()) {
    return base::invalid(
        "'{}' is not a full URL: it needs a scheme and a host, e.g. https://example.com/path", url);
  }
  std::string_view target = auth_end == std::string_view::npos ? "" : rest.substr(auth_end);
  // A fragment never reaches a server.
  target = target.substr(0, target.find('#'));
  std::string origin_form;
  if (target.starts_with('?')) {
    origin_form = "/" + std::string(target);
    target = origin_form;
  }
  size_t index = matchIngress(cfg, authority, target);
  const IngressRule& rule = cfg.ingress[index];
  std::string out = fmt::format("Matched rule #{}\n", index + 1);
  if (!rule.hostname.empty()) out += fmt::format("\thostname: {}\n", rule.hostname);
  if (!rule.path.empty()) out += fmt::format("\tpath: {}\n", rule.path);
  if (!rule.rule.empty()) {
    out += fmt::format("\trule: {}\n", rule.rule);
    out += fmt::format("\tpriority: {}\n", rule.priority);
  }
  if (!rule.middlewares.empty() || !rule.run.empty()) {
    // What runs, in order, chains expanded: "sec (headers), auth (basicAuth)".
    std::vector<std::string> run;
    for (const auto& m : rule.run) {
      if (m->kind == MiddlewareKind::ForwardAuth)
        run.push_back(fmt::format("{} (forwardAuth to {})", m->name, m->forward.address));
      else
        run.push_back(fmt::format("{} ({})", m->name, middlewareTypeName(m->kind)));
    }
    if (!rule.middlewares.empty())
      out += fmt::format("\tmiddlewares: {}\n", fmt::join(rule.middlewares, ", "));
    out += fmt::format("\truns: {}\n",
                       run.empty() ? "nothing" : fmt::format("{}", fmt::join(run, ", ")));
  }
  out += fmt::format("\tservice: {}\n", rule.service.text);
  if (hasRouteRules(cfg))
    out +=
        "\tassumed: a GET with no headers from an unknown address (Header() and ClientIP() "
        "match nothing)\n";
  return out;
}

}  // namespace config
