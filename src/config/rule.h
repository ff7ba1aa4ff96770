// Private to src/config: Traefik v3 router rules, parsed once and matched per request.
//
//   Host(`photos.example.net`) && (PathPrefix(`/api`) || Method(`POST`)) && !ClientIP(`10.0.0.0/8`)
//
// The syntax is Traefik's (a Go expression): matchers with values in backticks or in Go
// double-quoted strings, `!` binding tightest, then `&&`, then `||`, and parentheses. The
// meaning of each matcher is Traefik v3's, as docs/routing.md describes. A parsed Rule is an
// immutable value: safe to share read-only across threads.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "config/address_internal.h"
#include "config/config.h"

namespace re2 {
class RE2;
}

namespace config {

// A request as the matchers read it, derived once from a RouteRequest.
class RuleRequest {
 public:
  explicit RuleRequest(const RouteRequest& req);

  const RouteRequest& request() const { return req_; }
  // The host, lowercase and without its port ("" when the request has none).
  const std::string& host() const { return host_; }
  // Traefik's routing path: the path with its percent-escapes decoded, except those of the
  // characters RFC 3986 reserves (and '%'), which stay as written ("/a%2Fb").
  const std::string& path() const { return path_; }
  // The query's values for `key`, decoded as Go's url.ParseQuery does ('+' is a space, pairs
  // with ';' or a bad escape are dropped). Parsed on first use.
  std::vector<std::string_view> query(std::string_view key) const;
  // The client's address; nullopt when unknown or unreadable. IPv4-mapped IPv6 reads as IPv4.
  const std::optional<IpAddress>& clientIp() const { return client_; }

 private:
  const RouteRequest& req_;
  std::string host_;
  std::string path_;
  std::optional<IpAddress> client_;
  mutable std::optional<std::vector<std::pair<std::string, std::string>>> query_;
};

class Rule {
 public:
  // The matcher names, as Traefik writes them.
  enum class Kind {
    Host,          // Host(`domain`): the host, case-insensitively, port ignored
    HostRegexp,    // HostRegexp(`re`): the lowercase host, searched (unanchored)
    Path,          // Path(`/p`): the routing path, exactly
    PathPrefix,    // PathPrefix(`/p`): the routing path starts with /p
    PathRegexp,    // PathRegexp(`re`): the routing path, searched (unanchored)
    Method,        // Method(`GET`): the method, exactly (the value is uppercased)
    Header,        // Header(`name`, `value`): a line of that header has exactly that value
    HeaderRegexp,  // HeaderRegexp(`name`, `re`): a line of that header matches re
    Query,         // Query(`k`, `v`), Query(`k`): a value of query key k is v (or empty)
    QueryRegexp,   // QueryRegexp(`k`, `re`): a value of k matches re; one value: as Query
    ClientIP,      // ClientIP(`ip` or `cidr`): the address the edge saw the client at
  };

  // Parses `text`. Errors say where (line:column, 1-based, in bytes) and what was expected:
  //   "1:14: expected ')' after the arguments of Host"
  static base::Result<std::shared_ptr<const Rule>> parse(std::string_view text);

  bool matches(const RuleRequest& req) const;
  // The domains of its Host(`...`) matchers, lowercase, in order, once each (what the edge must
  // route to the tunnel for the rule to see requests; HostRegexp names none).
  std::vector<std::string> hosts() const;

  struct Node;
  ~Rule();
  Rule(Rule&&) noexcept;

 private:
  Rule();
  std::unique_ptr<Node> root_;
};

// The name a matcher is written with ("PathPrefix").
std::string_view ruleKindName(Rule::Kind kind);

}  // namespace config
