// The connector's config.yml: a cloudflared config file, read with yaml-cpp.
//
// yaml-cpp reports errors by throwing. The exceptions stay inside src/config: parsing runs in
// the one try block of parseYaml() (yaml_internal.h), which turns them into Results, and the
// walker itself only calls accessors that do not throw on well-formed nodes (IsMap, Scalar,
// iteration, Mark).
//
// A config written for cloudflared must keep working, so keys burrow does not use are
// warnings (LOG_WARN once each, and TunnelConfig::warnings) — except a key that protects a
// route (access: required, ipRules): unenforced, it would leave the route public, so it is an
// error until burrow enforces it.
#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/base.h"
#include "config/config.h"
#include "config/ingress_internal.h"
#include "config/rule.h"
#include "config/yaml_internal.h"

namespace config {
namespace {

// Config files are small; the cap keeps a wrong path (a log, a disk image) from being slurped.
constexpr size_t kMaxConfigBytes = 1 << 20;
constexpr int kMaxHaConnections = 64;

// The keys of each place in a config: those burrow reads, then cloudflared's that it does not.
// A key in neither is a typo or a stranger, and the warning says so (with the nearest key).
const std::vector<std::string_view> kTopKeys = {
    "tunnel", "credentials-file", "token-file", "metrics", "ha-connections", "grace-period",
    "originRequest", "ingress", "url", "loglevel", "middlewares",
    // cloudflared's, not used by burrow
    "logfile", "log-directory", "protocol", "no-autoupdate", "autoupdate-freq", "warp-routing",
    "edge-ip-version", "edge-bind-address", "region", "retries", "metrics-update-freq", "tag",
    "origincert", "transport-loglevel", "pidfile", "post-quantum", "management-diagnostics",
    "hello-world", "name", "lb-pool", "compression-quality", "use-reconnect-token",
    "dial-edge-timeout", "max-edge-addr-retries", "rpc-timeout", "write-stream-timeout",
    "quic-disable-pmtu-discovery", "label", "icmpv4-src", "icmpv6-src", "features"};
constexpr size_t kTopUsed = 11;
const std::vector<std::string_view> kOriginKeys = {
    "connectTimeout", "tlsTimeout", "tcpKeepAlive", "keepAliveTimeout", "responseTimeout",
    "keepAliveConnections", "noTLSVerify", "disableChunkedEncoding", "httpHostHeader",
    "originServerName", "caPool", "access", "ipRules",
    // cloudflared's, not used by burrow
    "noHappyEyeballs", "matchSNItoHost", "bastionMode", "proxyAddress", "proxyPort", "proxyType",
    "http2Origin"};
constexpr size_t kOriginUsed = 13;
const std::vector<std::string_view> kRuleKeys = {
    "hostname", "path", "service", "originRequest", "rule", "priority", "middlewares"};
constexpr size_t kRuleUsed = 7;
// Traefik keeps the priorities above this for its own routers; burrow keeps the same bound so
// that a Traefik configuration means the same here.
constexpr int kMaxPriority = std::numeric_limits<int32_t>::max() - 1000;
const std::vector<std::string_view> kAccessKeys = {"required", "portal", "teamName", "audTag"};
constexpr size_t kAccessUsed = 2;

// One `key: value` of a mapping, with the key's line for messages.
struct Entry {
  std::string key;
  YAML::Node value;
  int line = 0;
};

class Parser {
 public:
  // `rule_name` is what messages call a rule: "ingress rule" in config.yml, "route" in
  // burrow.yaml. `service_names`, when given, are the names a rule's service URL may use as
  // its host, in brackets (burrow.yaml's "http://[photos]:2342").
  explicit Parser(std::string_view source, std::string_view rule_name = "ingress rule",
                  const std::vector<std::string>* service_names = nullptr)
      : source_(source), rule_name_(rule_name), service_names_(service_names) {}

  base::Result<TunnelConfig> parse(const YAML::Node& root);
  // The rules of the list under `key` (its key at `line`), the last one a catch-all.
  base::Result<std::vector<IngressRule>> rules(const YAML::Node& list, int line,
                                               std::string_view key, const OriginRequest& defaults);
  std::vector<std::string> takeWarnings() { return std::move(warnings_); }
  // The middlewares the rules may name (`middlewares:` of the same file).
  void setMiddlewares(std::vector<std::shared_ptr<const Middleware>> m) {
    middlewares_ = std::move(m);
  }

 private:
  template <class... Args>
  base::Unexpected fail(int line, fmt::format_string<Args...> f, Args&&... args) const {
    return base::invalid("{}:{}: {}", source_, line, fmt::format(f, std::forward<Args>(args)...));
  }

  void ignore(const Entry& e, std::string_view where, const std::vector<std::string_view>& known,
              size_t used);
  base::Result<std::vector<Entry>> entries(const YAML::Node& map, std::string_view where);
  base::Result<std::string> stringValue(const Entry& e, std::string_view where);
  base::Result<std::optional<Millis>> durationValue(const Entry& e, std::string_view where);
  base::Result<std::optional<bool>> boolValue(const Entry& e, std::string_view where);
  base::Result<std::optional<int>> intValue(const Entry& e, std::string_view where, int min,
                                            int max);
  base::Result<OriginRequest> originRequest(const Entry& e, std::string_view where);
  base::Result<Service> access(const Entry& e, std::string_view where);
  base::Result<IngressRule> rule(const YAML::Node& n, size_t index, size_t count,
                                 const OriginRequest& defaults);

  base::Result<Service> service(std::string_view text, int line, std::string_view where) const;

  std::string source_;
  std::string rule_name_;
  const std::vector<std::string>* service_names_;
  std::vector<std::shared_ptr<const Middleware>> middlewares_;
  std::vector<std::string> warnings_;
};

void Parser::ignore(const Entry& e, std::string_view where,
                    const std::vector<std::string_view>& known, size_t used) {
  std::string w;
  if (std::find(known.begin() + static_cast<ptrdiff_t>(used), known.end(), e.key) != known.end()) {
    w = fmt::format("{}:{}: {}ignoring key '{}' (not used by burrow)", source_, e.line, where,
                    e.key);
  } else if (std::string near = nearestKey(e.key, known); !near.empty()) {
    w = fmt::format("{}:{}: {}unknown key '{}' ignored; did you mean '{}'?", source_, e.line, where,
                    e.key, near);
  } else {
    w = fmt::format("{}:{}: {}unknown key '{}' ignored", source_, e.line, where, e.key);
  }
  LOG_WARN("{}", w);
  warnings_.push_back(std::move(w));
}

// Refuses what yaml-cpp lets through silently: non-scalar keys, and duplicate keys (the
// second would otherwise shadow the first without a word; cloudflared's YAML library
// refuses them too).
base::Result<std::vector<Entry>> Parser::entries(const YAML::Node& map, std::string_view where) {
  std::vector<Entry> out;
  std::set<std::string> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    // By value: the iterator hands out a temporary pair, so a reference would dangle.
    const YAML::Node key = it->first;
    if (!key.IsScalar()) {
      return fail(lineOf(key), "{}keys must be plain names, not {}", where, kindName(key));
    }
    if (!seen.insert(key.Scalar()).second) {
      return fail(lineOf(key), "{}key '{}' appears twice", where, key.Scalar());
    }
    out.push_back(Entry{key.Scalar(), it->second, lineOf(key)});
  }
  return out;
}

// Null (`key:` with nothing after it) reads as empty, as in cloudflared.
base::Result<std::string> Parser::stringValue(const Entry& e, std::string_view where) {
  if (e.value.IsNull()) return std::string();
  if (!e.value.IsScalar()) {
    return fail(e.line, "{}{}: expected a string, got {}", where, e.key, kindName(e.value));
  }
  return e.value.Scalar();
}

base::Result<std::optional<Millis>> Parser::durationValue(const Entry& e, std::string_view where) {
  if (e.value.IsNull()) return std::optional<Millis>();
  if (!e.value.IsScalar()) {
    return fail(e.line, "{}{}: expected a duration such as 30s, got {}", where, e.key,
                kindName(e.value));
  }
  auto d = base::parseDuration(e.value.Scalar());
  if (!d) return fail(e.line, "{}{}: {}", where, e.key, d.error().message());
  return std::optional<Millis>(*d);
}

base::Result<std::optional<bool>> Parser::boolValue(const Entry& e, std::string_view where) {
  if (e.value.IsNull()) return std::optional<bool>();
  bool b = false;
  if (!e.value.IsScalar() || !YAML::convert<bool>::decode(e.value, b)) {
    return fail(e.line, "{}{}: expected true or false, got '{}'", where, e.key,
                e.value.IsScalar() ? e.value.Scalar() : kindName(e.value));
  }
  return std::optional<bool>(b);
}

base::Result<std::optional<int>> Parser::intValue(const Entry& e, std::string_view where, int min,
                                                  int max) {
  if (e.value.IsNull()) return std::optional<int>();
  int v = 0;
  bool ok = false;
  if (e.value.IsScalar()) {
    const std::string& s = e.value.Scalar();
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    ok = ec == std::errc() && end == s.data() + s.size() && v >= min && v <= max;
  }
  if (!ok) {
    return fail(e.line, "{}{}: expected a whole number from {} to {}, got '{}'", where, e.key, min,
                max, e.value.IsScalar() ? e.value.Scalar() : kindName(e.value));
  }
  return std::optional<int>(v);
}

// cloudflared's `access:` makes a route require a Cloudflare Access login. burrow's own login
// portal takes that place: `required: true` needs `portal:` (where `burrow auth` answers), and
// every request of the route asks it first (docs/routing.md, "Access"). A route that asks for a
// login and names no portal is refused rather than served in the open. `required: false`
// protects nothing; Cloudflare's teamName and audTag are noted and not used.
base::Result<Service> Parser::access(const Entry& e, std::string_view where) {
  if (e.value.IsNull()) return Service{};
  if (!e.value.IsMap())
    return fail(e.line, "{}access: expected a mapping (required, portal), got {}", where,
                kindName(e.value));
  std::string w = fmt::format("{}access: ", where);
  ASSIGN_OR_RETURN(std::vector<Entry> items, entries(e.value, w));
  bool required = false;
  Service portal;
  int portal_line = 0;
  std::vector<const Entry*> cloudflare;
  for (const Entry& item : items) {
    if (item.key == "required") {
      ASSIGN_OR_RETURN(std::optional<bool> r, boolValue(item, w));
      required = r.value_or(false);
    } else if (item.key == "portal") {
      ASSIGN_OR_RETURN(std::string text, stringValue(item, w));
      ASSIGN_OR_RETURN(portal, service(text, item.line, w + "portal: "));
      if (portal.kind != ServiceKind::Http && portal.kind != ServiceKind::Https)
        return fail(item.line,
                    "{}portal: expected the http:// or https:// address of burrow auth, got '{}'",
                    w, portal.text);
      portal_line = item.line;
    } else if (item.key == "teamName" || item.key == "audTag") {
      cloudflare.push_back(&item);
    } else {
      ignore(item, w, kAccessKeys, kAccessUsed);
    }
  }
  for (const Entry* item : cloudflare) {
    std::string note = fmt::format(
        "{}:{}: {}ignoring key '{}' (Cloudflare Access's; {})", source_, item->line, w, item->key,
        required ? "burrow's portal decides who gets in" : "required is false");
    LOG_WARN("{}", note);
    warnings_.push_back(std::move(note));
  }
  if (!required) return Service{};
  if (portal_line == 0)
    return fail(e.line,
                "{}required: true needs portal: the address of burrow auth (e.g. "
                "http://127.0.0.1:9091), which checks each request's session; without it the "
                "route would be public",
                w);
  return portal;
}

base::Result<OriginRequest> Parser::originRequest(const Entry& e, std::string_view where) {
  OriginRequest o;
  if (e.value.IsNull()) return o;
  if (!e.value.IsMap()) {
    return fail(e.line, "{}originRequest: expected a mapping of settings, got {}", where,
                kindName(e.value));
  }
  std::string w = fmt::format("{}originRequest: ", where);
  ASSIGN_OR_RETURN(std::vector<Entry> items, entries(e.value, w));
  for (const Entry& item : items) {
    const std::string& k = item.key;
    if (k == "connectTimeout") {
      ASSIGN_OR_RETURN(o.connect_timeout, durationValue(item, w));
    } else if (k == "tlsTimeout") {
      ASSIGN_OR_RETURN(o.tls_timeout, durationValue(item, w));
    } else if (k == "tcpKeepAlive") {
      ASSIGN_OR_RETURN(o.tcp_keep_alive, durationValue(item, w));
    } else if (k == "keepAliveTimeout") {
      ASSIGN_OR_RETURN(o.keep_alive_timeout, durationValue(item, w));
    } else if (k == "responseTimeout") {
      ASSIGN_OR_RETURN(o.response_timeout, durationValue(item, w));
      if (o.response_timeout && o.response_timeout->count() <= 0)
        return fail(item.line, "{}responseTimeout: must be longer than 0s", w);
    } else if (k == "keepAliveConnections") {
      ASSIGN_OR_RETURN(o.keep_alive_connections, intValue(item, w, 0, 1'000'000));
    } else if (k == "noTLSVerify") {
      ASSIGN_OR_RETURN(o.no_tls_verify, boolValue(item, w));
    } else if (k == "disableChunkedEncoding") {
      ASSIGN_OR_RETURN(o.disable_chunked_encoding, boolValue(item, w));
    } else if (k == "httpHostHeader") {
      ASSIGN_OR_RETURN(o.http_host_header, stringValue(item, w));
    } else if (k == "originServerName") {
      ASSIGN_OR_RETURN(o.origin_server_name, stringValue(item, w));
    } else if (k == "caPool") {
      ASSIGN_OR_RETURN(o.ca_pool, stringValue(item, w));
    } else if (k == "access") {
      ASSIGN_OR_RETURN(o.access, access(item, w));
    } else if (k == "ipRules") {
      // A protection burrow does not enforce must not be taken as one.
      return fail(item.line,
                  "{}ipRules: burrow does not enforce IP rules; remove the key rather than "
                  "leave the origin believed protected",
                  w);
    } else {
      ignore(item, w, kOriginKeys, kOriginUsed);
    }
  }
  return o;
}

// A service URL whose host may be [NAME]: a service of burrow.yaml, never one of config.yml.
base::Result<Service> Parser::service(std::string_view text, int line,
                                      std::string_view where) const {
  auto svc = parseService(text, /*bracket_names=*/true);
  if (!svc) return fail(line, "{}{}", where, svc.error().message());
  if (svc->name.empty()) return svc;
  if (service_names_ == nullptr) {
    return fail(line, "{}'{}': '{}' is not an IPv6 address", where, text, svc->name);
  }
  const auto& names = *service_names_;
  if (std::find(names.begin(), names.end(), svc->name) == names.end()) {
    std::string near = nearestKey(svc->name, {names.begin(), names.end()});
    return fail(line, "{}service: [{}] is not a service of this file{}", where, svc->name,
                near.empty() ? fmt::format(" (services: {})", fmt::join(names, ", "))
                             : fmt::format("; did you mean [{}]?", near));
  }
  return svc;
}

base::Result<IngressRule> Parser::rule(const YAML::Node& n, size_t index, size_t count,
                                       const OriginRequest& defaults) {
  const size_t number = index + 1;
  const int line = lineOf(n);
  if (!n.IsMap()) {
    return fail(line, "{} #{}: expected a mapping with service: (and hostname:, path:), got {}",
                rule_name_, number, kindName(n));
  }
  std::string where = fmt::format("{} #{}: ", rule_name_, number);
  ASSIGN_OR_RETURN(std::vector<Entry> items, entries(n, where));
  IngressRule r;
  r.line = line;
  OriginRequest own;
  std::string service;
  int hostname_line = line, path_line = line, service_line = line, rule_line = line;
  bool has_service = false, has_rule = false;
  std::optional<int> priority;
  int priority_line = line;
  for (const Entry& item : items) {
    if (item.key == "hostname") {
      ASSIGN_OR_RETURN(r.hostname, stringValue(item, where));
      hostname_line = item.line;
    } else if (item.key == "path") {
      ASSIGN_OR_RETURN(r.path, stringValue(item, where));
      path_line = item.line;
    } else if (item.key == "rule") {
      ASSIGN_OR_RETURN(r.rule, stringValue(item, where));
      rule_line = item.line;
      has_rule = true;
    } else if (item.key == "priority") {
      ASSIGN_OR_RETURN(priority, intValue(item, where, -kMaxPriority, kMaxPriority));
      priority_line = item.line;
    } else if (item.key == "service") {
      ASSIGN_OR_RETURN(service, stringValue(item, where));
      service_line = item.line;
      has_service = true;
    } else if (item.key == "originRequest") {
      ASSIGN_OR_RETURN(own, originRequest(item, where));
    } else if (item.key == "middlewares") {
      YamlEntry e{item.key, where + "middlewares", item.value, item.line};
      RETURN_IF_ERROR(routeMiddlewares(e, where, source_, middlewares_, &r));
    } else {
      ignore(item, where, kRuleKeys, kRuleUsed);
    }
  }

  if (has_rule) {
    if (!r.hostname.empty() || !r.path.empty())
      return fail(r.hostname.empty() ? path_line : hostname_line,
                  "{}rule: cannot be combined with hostname: or path: in one {}; write them in "
                  "the rule instead, e.g. Host(`a.example`) && PathRegexp(`^/api/`)",
                  where, rule_name_);
    auto parsed = Rule::parse(r.rule);
    if (!parsed) return fail(rule_line, "{}rule: {}", where, parsed.error().message());
    r.matcher = std::move(*parsed);
    // Traefik's default: the rule's length, so that longer (more specific) rules go first.
    r.priority = priority.value_or(0) != 0 ? *priority : static_cast<int>(r.rule.size());
  } else if (priority) {
    return fail(priority_line,
                "{}priority: applies to rule: only; rules with hostname: and path: are tried in "
                "file order, after the rule: routes",
                where);
  }
  if (auto ok = checkHostname(r.hostname); !ok) {
    return fail(hostname_line, "{}{}", where, ok.error().message());
  }
  if (!r.path.empty()) {
    re2::RE2::Options opts;
    opts.set_log_errors(false);  // the error goes into our message instead of stderr
    auto re = std::make_shared<const re2::RE2>(r.path, opts);
    if (!re->ok()) {
      return fail(path_line, "{} #{} has an invalid path regex '{}': {}", rule_name_, number,
                  r.path, re->error());
    }
    r.path_re = std::move(re);
  }
  if (!has_service || service.empty()) {
    return fail(has_service ? service_line : line,
                "{}missing service: (e.g. service: http://localhost:8080)", where);
  }
  ASSIGN_OR_RETURN(r.service, this->service(service, service_line, where));

  const bool catch_all = (r.hostname.empty() || r.hostname == "*") && r.path.empty() && !has_rule;
  const bool last = index + 1 == count;
  if (last && !catch_all) {
    return fail(line,
                "{}the last {} must match all URLs (i.e. it should not have a hostname or path "
                "filter{}); end the list with e.g. '- service: http_status:404'",
                where, rule_name_, has_rule ? ", nor a rule" : "");
  }
  if (!last && catch_all) {
    return fail(line,
                "{} #{} is matching the hostname '{}', but this will match every hostname, "
                "meaning the rules which follow it will never be triggered",
                rule_name_, number, r.hostname.empty() ? "*" : r.hostname);
  }
  r.origin = resolve(merge(defaults, own));
  if (r.origin.access_portal) r.run.insert(r.run.begin(), portalCheck(*r.origin.access_portal));
  return r;
}

base::Result<std::vector<IngressRule>> Parser::rules(const YAML::Node& list, int line,
                                                     std::string_view key,
                                                     const OriginRequest& defaults) {
  if (!list.IsSequence()) {
    return fail(line, "{}: expected a list of rules, got {}", key, kindName(list));
  }
  const size_t count = list.size();
  if (count == 0) {
    return fail(line,
                "{}: the list is empty; end it with a catch-all rule such as "
                "'- service: http_status:404'",
                key);
  }
  std::vector<IngressRule> out;
  for (size_t i = 0; i < count; ++i) {
    ASSIGN_OR_RETURN(IngressRule r, rule(list[i], i, count, defaults));
    out.push_back(std::move(r));
  }
  return out;
}

base::Result<TunnelConfig> Parser::parse(const YAML::Node& root) {
  TunnelConfig cfg;
  cfg.source = source_;
  const std::string kNoRules =
      "the config file doesn't contain any ingress rules; add an ingress: list ending with a "
      "catch-all rule such as '- service: http_status:404'";
  if (root.IsNull()) return fail(1, "{}", kNoRules);
  if (!root.IsMap()) {
    return fail(lineOf(root),
                "the config must be a mapping of keys (tunnel:, ingress:, ...), not {}",
                kindName(root));
  }
  ASSIGN_OR_RETURN(std::vector<Entry> items, entries(root, ""));

  // originRequest applies to every rule wherever it appears, so rules are read last.
  OriginRequest defaults;
  const Entry* ingress = nullptr;
  const Entry* url = nullptr;
  for (const Entry& item : items) {
    const std::string& k = item.key;
    if (k == "tunnel") {
      ASSIGN_OR_RETURN(cfg.tunnel, stringValue(item, ""));
    } else if (k == "credentials-file") {
      ASSIGN_OR_RETURN(cfg.credentials_file, stringValue(item, ""));
    } else if (k == "token-file") {
      ASSIGN_OR_RETURN(cfg.token_file, stringValue(item, ""));
    } else if (k == "metrics") {
      ASSIGN_OR_RETURN(cfg.metrics, stringValue(item, ""));
      if (auto ok = checkMetricsAddress(cfg.metrics); !cfg.metrics.empty() && !ok)
        return fail(item.line, "metrics: {}", ok.error().message());
    } else if (k == "loglevel") {
      ASSIGN_OR_RETURN(cfg.loglevel, stringValue(item, ""));
      base::LogLevel level;
      if (!cfg.loglevel.empty() && cfg.loglevel != "fatal" &&
          !base::parseLogLevel(cfg.loglevel, &level))
        return fail(item.line, "loglevel: '{}' is not one of debug, info, warn, error, fatal, off",
                    cfg.loglevel);
      if (cfg.loglevel == "fatal") cfg.loglevel = "error";  // burrow's most severe level
    } else if (k == "ha-connections") {
      ASSIGN_OR_RETURN(cfg.ha_connections, intValue(item, "", 1, kMaxHaConnections));
    } else if (k == "grace-period") {
      ASSIGN_OR_RETURN(cfg.grace_period, durationValue(item, ""));
    } else if (k == "originRequest") {
      ASSIGN_OR_RETURN(defaults, originRequest(item, ""));
    } else if (k == "ingress") {
      ingress = &item;
    } else if (k == "url") {
      // cloudflared's single-origin mode: `url:` instead of an ingress list.
      url = &item;
    } else if (k == "middlewares") {
      ASSIGN_OR_RETURN(cfg.middlewares,
                       parseMiddlewares(item.value, item.line, source_, &warnings_));
      middlewares_ = cfg.middlewares;
    } else {
      ignore(item, "", kTopKeys, kTopUsed);
    }
  }

  if (ingress != nullptr && url != nullptr) {
    return fail(url->line,
                "url: cannot be set when using multiple-origin ingress rules; remove it or "
                "the ingress: list");
  }
  if (url != nullptr) {
    ASSIGN_OR_RETURN(std::string text, stringValue(*url, ""));
    IngressRule r;
    ASSIGN_OR_RETURN(r.service, service(text, url->line, "url: "));
    r.origin = resolve(defaults);
    if (r.origin.access_portal) r.run.push_back(portalCheck(*r.origin.access_portal));
    r.line = url->line;
    cfg.ingress.push_back(std::move(r));
  } else {
    if (ingress == nullptr || ingress->value.IsNull() ||
        (ingress->value.IsSequence() && ingress->value.size() == 0)) {
      return fail(ingress == nullptr ? 1 : ingress->line, "{}", kNoRules);
    }
    ASSIGN_OR_RETURN(cfg.ingress, rules(ingress->value, ingress->line, "ingress", defaults));
  }
  cfg.warnings = std::move(warnings_);
  return cfg;
}

}  // namespace

base::Result<std::vector<IngressRule>> parseRoutes(
    const YAML::Node& list, int line, std::string_view source,
    const std::vector<std::string>& service_names,
    const std::vector<std::shared_ptr<const Middleware>>& middlewares,
    std::vector<std::string>* warnings) {
  Parser parser(source, "route", &service_names);
  parser.setMiddlewares(middlewares);
  auto rules = parser.rules(list, line, "routes", OriginRequest{});
  for (std::string& w : parser.takeWarnings()) warnings->push_back(std::move(w));
  return rules;
}

base::Result<void> checkMetricsAddress(std::string_view addr) {
  ASSIGN_OR_RETURN(base::HostPort hp, base::splitHostPort(addr, /*port_zero_ok=*/true));
  if (!base::isLoopbackHost(hp.host))
    return base::invalid(
        "'{}': the metrics listener binds loopback addresses only (localhost, 127.0.0.0/8 or "
        "[::1])",
        addr);
  return {};
}

std::string nearestKey(std::string_view key, const std::vector<std::string_view>& known) {
  auto lower = [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  // Levenshtein distance, ignoring case; close is at most 2 edits and a third of the key.
  auto distance = [&](std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      size_t diag = row[0];
      row[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        size_t up = row[j];
        row[j] = std::min(
            {row[j] + 1, row[j - 1] + 1, diag + (lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1)});
        diag = up;
      }
    }
    return row[b.size()];
  };
  std::string best;
  size_t best_d = 3;
  for (std::string_view k : known) {
    size_t d = distance(key, k);
    if (d < best_d && d * 3 <= key.size()) {
      best_d = d;
      best = std::string(k);
    }
  }
  return best;
}

OriginRequest merge(const OriginRequest& parent, const OriginRequest& child) {
  OriginRequest out = parent;
  if (child.connect_timeout) out.connect_timeout = child.connect_timeout;
  if (child.tls_timeout) out.tls_timeout = child.tls_timeout;
  if (child.tcp_keep_alive) out.tcp_keep_alive = child.tcp_keep_alive;
  if (child.no_tls_verify) out.no_tls_verify = child.no_tls_verify;
  if (child.http_host_header) out.http_host_header = child.http_host_header;
  if (child.origin_server_name) out.origin_server_name = child.origin_server_name;
  if (child.ca_pool) out.ca_pool = child.ca_pool;
  if (child.keep_alive_connections) out.keep_alive_connections = child.keep_alive_connections;
  if (child.keep_alive_timeout) out.keep_alive_timeout = child.keep_alive_timeout;
  if (child.disable_chunked_encoding) {
    out.disable_chunked_encoding = child.disable_chunked_encoding;
  }
  if (child.response_timeout) out.response_timeout = child.response_timeout;
  if (child.access) out.access = child.access;
  return out;
}

OriginSettings resolve(const OriginRequest& req) {
  OriginSettings s;  // its initialisers are cloudflared's defaults
  if (req.connect_timeout) s.connect_timeout = *req.connect_timeout;
  if (req.tls_timeout) s.tls_timeout = *req.tls_timeout;
  if (req.tcp_keep_alive) s.tcp_keep_alive = *req.tcp_keep_alive;
  if (req.no_tls_verify) s.no_tls_verify = *req.no_tls_verify;
  if (req.http_host_header) s.http_host_header = *req.http_host_header;
  if (req.origin_server_name) s.origin_server_name = *req.origin_server_name;
  if (req.ca_pool) s.ca_pool = *req.ca_pool;
  if (req.keep_alive_connections) s.keep_alive_connections = *req.keep_alive_connections;
  if (req.keep_alive_timeout) s.keep_alive_timeout = *req.keep_alive_timeout;
  if (req.disable_chunked_encoding) s.disable_chunked_encoding = *req.disable_chunked_encoding;
  if (req.response_timeout) s.response_timeout = *req.response_timeout;
  if (req.access &&
      (req.access->kind == ServiceKind::Http || req.access->kind == ServiceKind::Https))
    s.access_portal = req.access;
  return s;
}

base::Result<TunnelConfig> parseTunnelConfig(std::string_view yaml, std::string_view source) {
  return parseYaml(yaml, source,
                   [&](const YAML::Node& root) { return Parser(source).parse(root); });
}

base::Result<TunnelConfig> loadTunnelConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, base::readFile(path, kMaxConfigBytes));
  return parseTunnelConfig(text, path);
}

// A YAML double-quoted scalar. Control characters are escaped: a raw line break in a double-
// quoted scalar would be folded into a space.
std::string quotedScalar(std::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

namespace {

std::string serviceText(const Service& s) {
  if (s.kind != ServiceKind::Http && s.kind != ServiceKind::Https) return s.text;
  const bool v6 = s.host.find(':') != std::string::npos;
  return fmt::format("{}://{}{}{}:{}", s.kind == ServiceKind::Https ? "https" : "http",
                     v6 ? "[" : "", s.host, v6 ? "]" : "", s.port);
}

}  // namespace

std::string formatTunnelConfig(const TunnelConfig& cfg) {
  std::string out = formatMiddlewares(cfg.middlewares) + "ingress:\n";
  for (const auto& r : cfg.ingress) {
    const OriginSettings& o = r.origin;
    out += fmt::format("  - service: {}\n", quotedScalar(serviceText(r.service)));
    if (!r.hostname.empty()) out += fmt::format("    hostname: {}\n", quotedScalar(r.hostname));
    if (!r.path.empty()) out += fmt::format("    path: {}\n", quotedScalar(r.path));
    if (!r.rule.empty()) {
      out += fmt::format("    rule: {}\n", quotedScalar(r.rule));
      out += fmt::format("    priority: {}\n", r.priority);
    }
    if (!r.middlewares.empty()) {
      std::vector<std::string> names;
      for (const std::string& m : r.middlewares) names.push_back(quotedScalar(m));
      out += fmt::format("    middlewares: [{}]\n", fmt::join(names, ", "));
    }
    out += "    originRequest:\n";
    for (auto [key, ms] : {std::pair{"connectTimeout", o.connect_timeout},
                           {"tlsTimeout", o.tls_timeout},
                           {"tcpKeepAlive", o.tcp_keep_alive},
                           {"keepAliveTimeout", o.keep_alive_timeout},
                           {"responseTimeout", o.response_timeout}})
      out += fmt::format("      {}: {}ms\n", key, ms.count());
    out += fmt::format("      keepAliveConnections: {}\n", o.keep_alive_connections);
    out += fmt::format("      noTLSVerify: {}\n", o.no_tls_verify);
    out += fmt::format("      disableChunkedEncoding: {}\n", o.disable_chunked_encoding);
    for (auto [key, v] : {std::pair{"httpHostHeader", &o.http_host_header},
                          {"originServerName", &o.origin_server_name},
                          {"caPool", &o.ca_pool}})
      if (!v->empty()) out += fmt::format("      {}: {}\n", key, quotedScalar(*v));
    if (o.access_portal)
      out += fmt::format("      access: {{required: true, portal: {}}}\n",
                         quotedScalar(serviceText(*o.access_portal)));
  }
  return out;
}

base::Result<TunnelConfig> singleServiceConfig(std::string_view url) {
  // cloudflared treats `--url localhost:8080` as http://localhost:8080.
  std::string text(url);
  const bool special = text.starts_with("unix:") || text.starts_with("unix+tls:") ||
                       text.starts_with("http_status:") || text == "hello_world" ||
                       text == "hello-world" || text == "helloworld";
  if (!special && !text.empty() && text.find("://") == std::string::npos) text = "http://" + text;
  auto svc = parseService(text);
  if (!svc) return base::invalid("--url: {}", svc.error().message());
  TunnelConfig cfg;
  cfg.source = "--url";
  IngressRule r;
  r.service = std::move(*svc);
  r.origin = resolve(OriginRequest{});
  cfg.ingress.push_back(std::move(r));
  return cfg;
}

}  // namespace config
