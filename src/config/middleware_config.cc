// Traefik's middlewares as its file provider declares them: the top-level `middlewares:` map of
// config.yml and burrow.yaml, and a route's `middlewares:` list. Options burrow does not
// implement are a warning each, except those that protect something: unenforced, they would
// leave a route believed protected, so they are errors (as is any type not there yet).
#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <functional>
#include <map>
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

constexpr size_t kMaxUsersFileBytes = 1 << 20;

struct TypeName {
  std::string_view name;
  MiddlewareKind kind;
};
constexpr TypeName kTypes[] = {
    {"headers", MiddlewareKind::Headers},
    {"stripPrefix", MiddlewareKind::StripPrefix},
    {"addPrefix", MiddlewareKind::AddPrefix},
    {"redirectScheme", MiddlewareKind::RedirectScheme},
    {"redirectRegex", MiddlewareKind::RedirectRegex},
    {"ipAllowList", MiddlewareKind::IpAllowList},
    {"basicAuth", MiddlewareKind::BasicAuth},
    {"chain", MiddlewareKind::Chain},
    {"rateLimit", MiddlewareKind::RateLimit},
    {"forwardAuth", MiddlewareKind::ForwardAuth},
};
// Traefik's other types: known, so that the error says "not there yet" rather than "unknown".
const std::vector<std::string_view> kNotYet = {
    "digestAuth",  "compress",         "retry",       "buffering",         "circuitBreaker",
    "errors",      "inFlightReq",      "contentType", "passTLSClientCert", "grpcWeb",
    "replacePath", "replacePathRegex", "plugin",      "stripPrefixRegex"};

// Per type: the options burrow reads; Traefik's options it does not enforce and that protect
// something (errors); and Traefik's options it does not use (warnings).
struct Options {
  std::vector<std::string_view> used, protecting, unused;
};
const std::map<MiddlewareKind, Options> kOptions = {
    {MiddlewareKind::Headers,
     {{"customRequestHeaders", "customResponseHeaders", "stsSeconds", "stsIncludeSubdomains",
       "stsPreload", "forceSTSHeader", "frameDeny", "customFrameOptionsValue", "contentTypeNosniff",
       "browserXssFilter", "contentSecurityPolicy", "referrerPolicy", "permissionsPolicy"},
      {"allowedHosts"},
      {"accessControlAllowCredentials", "accessControlAllowHeaders", "accessControlAllowMethods",
       "accessControlAllowOriginList", "accessControlAllowOriginListRegex",
       "accessControlExposeHeaders", "accessControlMaxAge", "addVaryHeader", "hostsProxyHeaders",
       "sslProxyHeaders", "customBrowserXSSValue", "contentSecurityPolicyReportOnly", "publicKey",
       "isDevelopment", "featurePolicy"}}},
    {MiddlewareKind::StripPrefix, {{"prefixes"}, {}, {"forceSlash"}}},
    {MiddlewareKind::AddPrefix, {{"prefix"}, {}, {}}},
    {MiddlewareKind::RedirectScheme, {{"scheme", "port", "permanent"}, {}, {}}},
    {MiddlewareKind::RedirectRegex, {{"regex", "replacement", "permanent"}, {}, {}}},
    {MiddlewareKind::IpAllowList, {{"sourceRange", "rejectStatusCode"}, {"ipStrategy"}, {}}},
    {MiddlewareKind::BasicAuth,
     {{"users", "usersFile", "realm", "removeHeader", "headerField"}, {}, {}}},
    {MiddlewareKind::Chain, {{"middlewares"}, {}, {}}},
    {MiddlewareKind::RateLimit, {{"average", "period", "burst"}, {"sourceCriterion", "redis"}, {}}},
    // addAuthCookiesToResponse and headerField decide what reaches the client and the origin:
    // refused rather than dropped. forwardBody and maxBodySize are read to refuse a body.
    {MiddlewareKind::ForwardAuth,
     {{"address", "trustForwardHeader", "authResponseHeaders", "authResponseHeadersRegex",
       "authRequestHeaders", "tls", "preserveLocationHeader", "maxResponseBodySize", "forwardBody",
       "maxBodySize"},
      {"addAuthCookiesToResponse", "headerField"},
      {}}},
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool validHeaderName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool tchar = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!tchar) return false;
  }
  return true;
}

bool validHeaderValue(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

class MiddlewareParser {
 public:
  MiddlewareParser(std::string_view source, std::vector<std::string>* warnings)
      : source_(source), warnings_(warnings) {}

  base::Result<std::vector<std::shared_ptr<const Middleware>>> parse(const YAML::Node& map,
                                                                     int line);

 private:
  template <class... Args>
  base::Unexpected fail(int line, fmt::format_string<Args...> f, Args&&... args) const {
    return base::invalid("{}:{}: {}", source_, line, fmt::format(f, std::forward<Args>(args)...));
  }
  void warn(int line, std::string text) {
    std::string w = fmt::format("{}:{}: {}", source_, line, text);
    LOG_WARN("{}", w);
    warnings_->push_back(std::move(w));
  }

  base::Result<std::string> text(const YamlEntry& e);
  base::Result<bool> flag(const YamlEntry& e);
  base::Result<int64_t> number(const YamlEntry& e, int64_t min, int64_t max);
  base::Result<std::vector<std::string>> list(const YamlEntry& e);
  base::Result<std::vector<HeaderSetting>> headerMap(const YamlEntry& e);
  base::Result<void> option(Middleware& m, const YamlEntry& e);
  base::Result<void> forwardOption(Middleware::Forward& f, const YamlEntry& e);
  base::Result<void> forwardAddress(Middleware::Forward& f, const YamlEntry& e);
  base::Result<Middleware> one(const YamlEntry& e);
  base::Result<void> checkChains(const std::vector<std::shared_ptr<const Middleware>>& all);

  std::string source_;
  std::vector<std::string>* warnings_;
};

base::Result<std::string> MiddlewareParser::text(const YamlEntry& e) {
  if (e.value.IsNull()) return std::string();
  if (!e.value.IsScalar())
    return fail(e.line, "{}: expected a string, got {}", e.path, kindName(e.value));
  return e.value.Scalar();
}

base::Result<bool> MiddlewareParser::flag(const YamlEntry& e) {
  bool b = false;
  if (e.value.IsNull()) return false;
  if (!e.value.IsScalar() || !YAML::convert<bool>::decode(e.value, b))
    return fail(e.line, "{}: expected true or false, got '{}'", e.path,
                e.value.IsScalar() ? e.value.Scalar() : kindName(e.value));
  return b;
}

base::Result<int64_t> MiddlewareParser::number(const YamlEntry& e, int64_t min, int64_t max) {
  int64_t v = 0;
  bool ok = false;
  if (e.value.IsScalar()) {
    const std::string& s = e.value.Scalar();
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    ok = ec == std::errc() && end == s.data() + s.size() && v >= min && v <= max;
  }
  if (!ok)
    return fail(e.line, "{}: expected a whole number from {} to {}, got '{}'", e.path, min, max,
                e.value.IsScalar() ? e.value.Scalar() : kindName(e.value));
  return v;
}

base::Result<std::vector<std::string>> MiddlewareParser::list(const YamlEntry& e) {
  ASSIGN_OR_RETURN(std::vector<YamlItem> items, yamlScalars(e, /*single_ok=*/false, source_));
  std::vector<std::string> out;
  for (YamlItem& i : items) out.push_back(std::move(i.text));
  return out;
}

base::Result<std::vector<HeaderSetting>> MiddlewareParser::headerMap(const YamlEntry& e) {
  std::vector<HeaderSetting> out;
  if (e.value.IsNull()) return out;
  if (!e.value.IsMap())
    return fail(e.line, "{}: expected a mapping of header names to values, got {}", e.path,
                kindName(e.value));
  ASSIGN_OR_RETURN(std::vector<YamlEntry> items, yamlEntries(e.value, e.path, source_));
  std::set<std::string> seen;
  for (const YamlEntry& h : items) {
    if (!validHeaderName(h.key))
      return fail(h.line, "{}: '{}' is not a header name", e.path, h.key);
    if (!seen.insert(lower(h.key)).second)
      return fail(h.line, "{}: header '{}' appears twice (names ignore case)", e.path, h.key);
    ASSIGN_OR_RETURN(std::string v, text(h));
    if (!validHeaderValue(v))
      return fail(h.line, "{}: the value contains control characters", h.path);
    out.push_back({lower(h.key), std::move(v)});
  }
  std::sort(out.begin(), out.end(),
            [](const HeaderSetting& a, const HeaderSetting& b) { return a.name < b.name; });
  return out;
}

// One option `e` of middleware `m`, whose kind is decided.
base::Result<void> MiddlewareParser::option(Middleware& m, const YamlEntry& e) {
  const std::string& k = e.key;
  switch (m.kind) {
    case MiddlewareKind::Headers: {
      auto& h = m.headers;
      if (k == "customRequestHeaders") {
        ASSIGN_OR_RETURN(h.request, headerMap(e));
      } else if (k == "customResponseHeaders") {
        ASSIGN_OR_RETURN(h.response, headerMap(e));
      } else if (k == "stsSeconds") {
        ASSIGN_OR_RETURN(h.sts_seconds, number(e, 0, int64_t{1} << 40));
      } else if (k == "stsIncludeSubdomains") {
        ASSIGN_OR_RETURN(h.sts_include_subdomains, flag(e));
      } else if (k == "stsPreload") {
        ASSIGN_OR_RETURN(h.sts_preload, flag(e));
      } else if (k == "forceSTSHeader") {
        ASSIGN_OR_RETURN(h.force_sts_header, flag(e));
      } else if (k == "frameDeny") {
        ASSIGN_OR_RETURN(h.frame_deny, flag(e));
      } else if (k == "contentTypeNosniff") {
        ASSIGN_OR_RETURN(h.content_type_nosniff, flag(e));
      } else if (k == "browserXssFilter") {
        ASSIGN_OR_RETURN(h.browser_xss_filter, flag(e));
      } else {
        std::string* field = k == "customFrameOptionsValue" ? &h.custom_frame_options_value
                             : k == "contentSecurityPolicy" ? &h.content_security_policy
                             : k == "referrerPolicy"        ? &h.referrer_policy
                                                            : &h.permissions_policy;
        ASSIGN_OR_RETURN(*field, text(e));
        if (!validHeaderValue(*field))
          return fail(e.line, "{}: the value contains control characters", e.path);
      }
      return {};
    }
    case MiddlewareKind::StripPrefix: {
      ASSIGN_OR_RETURN(m.prefixes, list(e));
      for (const std::string& p : m.prefixes)
        if (p.empty()) return fail(e.line, "{}: a prefix cannot be empty", e.path);
      return {};
    }
    case MiddlewareKind::AddPrefix: {
      ASSIGN_OR_RETURN(m.prefix, text(e));
      if (m.prefix.empty()) return fail(e.line, "{}: the prefix cannot be empty", e.path);
      if (!m.prefix.starts_with('/')) m.prefix.insert(0, "/");  // as Traefik does
      if (m.prefix.find_first_of("?# \t") != std::string::npos)
        return fail(e.line, "{}: '{}' must be a path (no '?', '#' or spaces)", e.path, m.prefix);
      return {};
    }
    case MiddlewareKind::RedirectScheme:
    case MiddlewareKind::RedirectRegex: {
      auto& r = m.redirect;
      if (k == "permanent") {
        ASSIGN_OR_RETURN(r.permanent, flag(e));
      } else if (k == "scheme") {
        ASSIGN_OR_RETURN(r.scheme, text(e));
        if (r.scheme != "http" && r.scheme != "https")
          return fail(e.line, "{}: expected http or https, got '{}'", e.path, r.scheme);
      } else if (k == "port") {
        ASSIGN_OR_RETURN(int64_t port, number(e, 1, 65535));
        r.port = std::to_string(port);
      } else if (k == "regex") {
        ASSIGN_OR_RETURN(r.regex, text(e));
        re2::RE2::Options opts;
        opts.set_log_errors(false);
        auto re = std::make_shared<const re2::RE2>(r.regex, opts);
        if (!re->ok())
          return fail(e.line, "{}: invalid regular expression '{}': {}", e.path, r.regex,
                      re->error());
        r.re = std::move(re);
      } else {
        ASSIGN_OR_RETURN(r.replacement, text(e));
      }
      return {};
    }
    case MiddlewareKind::IpAllowList: {
      if (k == "rejectStatusCode") {
        ASSIGN_OR_RETURN(int64_t code, number(e, 400, 599));
        m.allow.reject_status = static_cast<int>(code);
        return {};
      }
      ASSIGN_OR_RETURN(std::vector<YamlItem> items, yamlScalars(e, false, source_));
      std::string rule;
      for (const YamlItem& i : items) {
        // Each range as a ClientIP() matcher: the same parsing and matching as rules.
        auto one = Rule::parse(fmt::format("ClientIP(`{}`)", i.text));
        if (i.text.find('`') != std::string::npos || !one)
          return fail(i.line, "{}: '{}' is not an IP address or a CIDR (10.0.0.0/8, fd00::/8)",
                      e.path, i.text);
        m.allow.source_range.push_back(i.text);
        rule += fmt::format("{}ClientIP(`{}`)", rule.empty() ? "" : " || ", i.text);
      }
      if (rule.empty())
        return fail(e.line, "{}: the list is empty; it would refuse every client", e.path);
      ASSIGN_OR_RETURN(m.allow.matcher, Rule::parse(rule));
      return {};
    }
    case MiddlewareKind::BasicAuth: {
      auto& b = m.basic;
      if (k == "users") {
        ASSIGN_OR_RETURN(std::vector<YamlItem> items, yamlScalars(e, false, source_));
        for (const YamlItem& i : items) {
          auto u = parseHtpasswd(i.text, e.path);
          if (!u) return fail(i.line, "{}", u.error().message());
          for (HtpasswdUser& x : *u) b.users.push_back(std::move(x));
        }
      } else if (k == "usersFile") {
        ASSIGN_OR_RETURN(std::string path, text(e));
        std::filesystem::path p(path);
        if (p.is_relative()) p = std::filesystem::path(source_).parent_path() / p;
        auto content = base::readFile(p.string(), kMaxUsersFileBytes);
        if (!content) return fail(e.line, "{}: {}", e.path, content.error().message());
        auto u = parseHtpasswd(*content, p.string());
        if (!u) return fail(e.line, "{}: {}", e.path, u.error().message());
        // The file's entry wins over one of users: with the same name, as in Traefik.
        for (HtpasswdUser& x : *u) {
          std::erase_if(b.users, [&](const HtpasswdUser& y) { return y.name == x.name; });
          b.users.push_back(std::move(x));
        }
      } else if (k == "realm") {
        ASSIGN_OR_RETURN(b.realm, text(e));
        if (b.realm.find_first_of("\"\\") != std::string::npos || !validHeaderValue(b.realm))
          return fail(e.line, "{}: the realm cannot contain '\"', '\\' or control characters",
                      e.path);
      } else if (k == "removeHeader") {
        ASSIGN_OR_RETURN(b.remove_header, flag(e));
      } else {
        ASSIGN_OR_RETURN(b.header_field, text(e));
        if (!validHeaderName(b.header_field))
          return fail(e.line, "{}: '{}' is not a header name", e.path, b.header_field);
        b.header_field = lower(b.header_field);
      }
      return {};
    }
    case MiddlewareKind::Chain: {
      ASSIGN_OR_RETURN(m.chain, list(e));
      return {};
    }
    case MiddlewareKind::RateLimit: {
      auto& r = m.rate;
      if (k == "average") {
        ASSIGN_OR_RETURN(r.average, number(e, 0, int64_t{1} << 40));
      } else if (k == "burst") {
        ASSIGN_OR_RETURN(r.burst, number(e, 1, int64_t{1} << 40));
      } else {
        // Traefik's periods: a duration ("1m") or a whole number of seconds.
        ASSIGN_OR_RETURN(std::string p, text(e));
        auto secs = number(e, 1, int64_t{1} << 30);
        auto d = secs ? base::Result<Millis>(Millis(*secs * 1000)) : base::parseDuration(p);
        if (!d || d->count() <= 0)
          return fail(e.line, "{}: expected a duration such as 1s or 1m, got '{}'", e.path, p);
        r.period = *d;
      }
      return {};
    }
    case MiddlewareKind::ForwardAuth:
      return forwardOption(m.forward, e);
  }
  return {};
}

// The forwardAuth address: http:// or https://, a host, and any path and query kept as they are.
base::Result<void> MiddlewareParser::forwardAddress(Middleware::Forward& f, const YamlEntry& e) {
  ASSIGN_OR_RETURN(f.address, text(e));
  const std::string& a = f.address;
  size_t sep = a.find("://");
  std::string scheme = lower(a.substr(0, sep == std::string::npos ? 0 : sep));
  if (sep == std::string::npos || (scheme != "http" && scheme != "https"))
    return fail(e.line, "{}: '{}' must be an http:// or https:// URL", e.path, a);
  if (a.find('#') != std::string::npos || !validHeaderValue(a) ||
      a.find_first_of(" \t") != std::string::npos)
    return fail(e.line, "{}: '{}' must be a URL without a fragment, spaces or control characters",
                e.path, a);
  size_t tail = a.find_first_of("/?", sep + 3);
  std::string authority = a.substr(sep + 3, tail == std::string::npos ? tail : tail - sep - 3);
  auto svc = parseService(scheme + "://" + authority);
  if (!svc || svc->host.empty())
    return fail(e.line, "{}: '{}': {}", e.path, a,
                svc ? std::string("no host") : svc.error().message());
  f.service = std::move(*svc);
  f.service.text = a;
  f.authority = authority;
  f.target = tail == std::string::npos ? "/" : a.substr(tail);
  if (f.target.starts_with('?')) f.target.insert(0, "/");
  return {};
}

base::Result<void> MiddlewareParser::forwardOption(Middleware::Forward& f, const YamlEntry& e) {
  const std::string& k = e.key;
  auto headerList = [&]() -> base::Result<std::vector<std::string>> {
    ASSIGN_OR_RETURN(std::vector<std::string> names, list(e));
    for (std::string& n : names) {
      if (!validHeaderName(n)) return fail(e.line, "{}: '{}' is not a header name", e.path, n);
      n = lower(n);
    }
    return names;
  };
  if (k == "address") return forwardAddress(f, e);
  if (k == "trustForwardHeader") {
    ASSIGN_OR_RETURN(f.trust_forward_header, flag(e));
  } else if (k == "authResponseHeaders") {
    ASSIGN_OR_RETURN(f.response_headers, headerList());
  } else if (k == "authRequestHeaders") {
    ASSIGN_OR_RETURN(f.request_headers, headerList());
  } else if (k == "authResponseHeadersRegex") {
    ASSIGN_OR_RETURN(f.response_headers_regex, text(e));
    if (f.response_headers_regex.empty()) return {};
    re2::RE2::Options opts;
    opts.set_log_errors(false);
    auto re = std::make_shared<const re2::RE2>(f.response_headers_regex, opts);
    if (!re->ok())
      return fail(e.line, "{}: invalid regular expression '{}': {}", e.path,
                  f.response_headers_regex, re->error());
    f.response_re = std::move(re);
  } else if (k == "preserveLocationHeader") {
    ASSIGN_OR_RETURN(f.preserve_location, flag(e));
  } else if (k == "maxResponseBodySize") {
    // Traefik's -1 means no limit; burrow keeps the answer in memory, so it caps it anyway.
    ASSIGN_OR_RETURN(int64_t n, number(e, -1, int64_t{64} << 20));
    f.max_response_body = n < 0 ? kForwardAuthMaxBody : n;
  } else if (k == "forwardBody") {
    ASSIGN_OR_RETURN(bool body, flag(e));
    if (body)
      return fail(e.line,
                  "{}: burrow does not send the request body to the authentication server; an "
                  "authentication server that decides on the body would be asked without it, so "
                  "the file is refused. Remove the option",
                  e.path);
  } else if (k == "maxBodySize") {
    ASSIGN_OR_RETURN(int64_t n, number(e, -1, int64_t{1} << 40));
    (void)n;  // only read with forwardBody, which is refused
  } else {    // tls
    if (!e.value.IsMap())
      return fail(e.line, "{}: expected a mapping (ca, insecureSkipVerify), got {}", e.path,
                  kindName(e.value));
    ASSIGN_OR_RETURN(std::vector<YamlEntry> items, yamlEntries(e.value, e.path, source_));
    for (const YamlEntry& t : items) {
      if (t.key == "insecureSkipVerify") {
        ASSIGN_OR_RETURN(f.origin.no_tls_verify, flag(t));
      } else if (t.key == "ca") {
        ASSIGN_OR_RETURN(f.tls_ca, text(t));
        std::filesystem::path p(f.tls_ca);
        if (p.is_relative()) p = std::filesystem::path(source_).parent_path() / p;
        std::error_code ec;
        if (!std::filesystem::is_regular_file(p, ec))
          return fail(t.line, "{}: no such file '{}'", t.path, p.string());
        f.origin.ca_pool = p.string();
      } else if (t.key == "cert" || t.key == "key" || t.key == "caOptional") {
        return fail(t.line,
                    "{}: burrow does not present a client certificate to the authentication "
                    "server yet, so the file is refused. Remove the option",
                    t.path);
      } else {
        return fail(t.line,
                    "{}: unknown option '{}' of forwardAuth tls (options: ca, "
                    "insecureSkipVerify)",
                    t.path, t.key);
      }
    }
  }
  return {};
}

base::Result<Middleware> MiddlewareParser::one(const YamlEntry& e) {
  Middleware m;
  m.name = e.key;
  m.line = e.line;
  if (e.key.empty() || e.key.find('@') != std::string::npos)
    return fail(e.line, "{}: a middleware's name cannot be empty or contain '@'", e.path);
  if (!e.value.IsMap() || e.value.size() != 1)
    return fail(e.line,
                "{}: expected a mapping with one middleware type, e.g. {}: {{headers: "
                "{{frameDeny: true}}}}, got {}",
                e.path, e.key,
                e.value.IsMap() ? fmt::format("{} types", e.value.size()) : kindName(e.value));
  ASSIGN_OR_RETURN(std::vector<YamlEntry> type, yamlEntries(e.value, e.path, source_));
  const YamlEntry& t = type[0];
  auto known = std::find_if(std::begin(kTypes), std::end(kTypes),
                            [&](const TypeName& n) { return n.name == t.key; });
  if (known == std::end(kTypes)) {
    if (std::find(kNotYet.begin(), kNotYet.end(), t.key) != kNotYet.end())
      return fail(t.line,
                  "{}: the middleware type {} is not there yet in burrow; a route that names it "
                  "would go without it, so the file is refused",
                  t.path, t.key);
    if (t.key == "ipWhiteList")
      return fail(t.line, "{}: ipWhiteList is Traefik v2's name; write ipAllowList", t.path);
    std::vector<std::string_view> names;
    for (const TypeName& n : kTypes) names.push_back(n.name);
    names.insert(names.end(), kNotYet.begin(), kNotYet.end());
    std::string near = nearestKey(t.key, names);
    return fail(t.line, "{}: unknown middleware type '{}'{}", t.path, t.key,
                near.empty() ? "" : fmt::format("; did you mean '{}'?", near));
  }
  m.kind = known->kind;
  if (!t.value.IsMap() && !t.value.IsNull())
    return fail(t.line, "{}: expected a mapping of options, got {}", t.path, kindName(t.value));
  std::vector<YamlEntry> opts;
  if (t.value.IsMap()) {
    ASSIGN_OR_RETURN(opts, yamlEntries(t.value, t.path, source_));
  }
  const Options& o = kOptions.at(m.kind);
  std::set<std::string> given;
  for (const YamlEntry& opt : opts) {
    auto in = [&](const std::vector<std::string_view>& v) {
      return std::find(v.begin(), v.end(), opt.key) != v.end();
    };
    if (in(o.used)) {
      RETURN_IF_ERROR(option(m, opt));
      given.insert(opt.key);
    } else if (in(o.protecting)) {
      return fail(opt.line,
                  "{}: burrow does not enforce {} yet; the middleware would protect less than it "
                  "says, so the file is refused. Remove the option",
                  opt.path, opt.key);
    } else if (in(o.unused)) {
      warn(opt.line,
           fmt::format("{}: ignoring option '{}' (not implemented by burrow)", opt.path, opt.key));
    } else {
      std::vector<std::string_view> all = o.used;
      all.insert(all.end(), o.protecting.begin(), o.protecting.end());
      all.insert(all.end(), o.unused.begin(), o.unused.end());
      std::string near = nearestKey(opt.key, all);
      return fail(opt.line, "{}: unknown option '{}' of {}{}", opt.path, opt.key, t.key,
                  near.empty() ? fmt::format(" (options: {})", fmt::join(o.used, ", "))
                               : fmt::format("; did you mean '{}'?", near));
    }
  }
  auto require = [&](std::string_view key) -> base::Result<void> {
    if (!given.contains(std::string(key)))
      return fail(t.line, "{}: {} needs '{}'", t.path, t.key, key);
    return {};
  };
  switch (m.kind) {
    case MiddlewareKind::StripPrefix:
      RETURN_IF_ERROR(require("prefixes"));
      break;
    case MiddlewareKind::AddPrefix:
      RETURN_IF_ERROR(require("prefix"));
      break;
    case MiddlewareKind::RedirectScheme:
      RETURN_IF_ERROR(require("scheme"));
      break;
    case MiddlewareKind::RedirectRegex:
      RETURN_IF_ERROR(require("regex"));
      RETURN_IF_ERROR(require("replacement"));
      break;
    case MiddlewareKind::IpAllowList:
      RETURN_IF_ERROR(require("sourceRange"));
      break;
    case MiddlewareKind::Chain:
      RETURN_IF_ERROR(require("middlewares"));
      break;
    case MiddlewareKind::ForwardAuth:
      RETURN_IF_ERROR(require("address"));
      m.forward.origin.connect_timeout = kForwardAuthTimeout;
      m.forward.origin.tls_timeout = kForwardAuthTimeout;
      m.forward.origin.response_timeout = kForwardAuthTimeout;
      if (m.forward.service.kind == ServiceKind::Http &&
          (m.forward.origin.no_tls_verify || !m.forward.tls_ca.empty()))
        return fail(t.line, "{}: tls: applies to an https:// address only", t.path);
      break;
    case MiddlewareKind::BasicAuth:
      if (m.basic.users.empty())
        return fail(t.line, "{}: basicAuth needs users: or a usersFile: with at least one user",
                    t.path);
      break;
    default:
      break;
  }
  return m;
}

// A chain names declared middlewares and never, through others, itself.
base::Result<void> MiddlewareParser::checkChains(
    const std::vector<std::shared_ptr<const Middleware>>& all) {
  std::map<std::string_view, const Middleware*> by_name;
  for (const auto& m : all) by_name[m->name] = m.get();
  std::vector<std::string_view> names;
  for (const auto& m : all) names.push_back(m->name);
  for (const auto& m : all) {
    for (const std::string& ref : m->chain) {
      if (!by_name.contains(ref)) {
        std::string near = nearestKey(ref, names);
        return fail(m->line, "middlewares.{}.chain.middlewares: no middleware '{}'{}", m->name, ref,
                    near.empty() ? "" : fmt::format("; did you mean '{}'?", near));
      }
    }
  }
  // Depth-first from each chain; `path` is the chain of chains being expanded.
  std::function<base::Result<void>(const Middleware*, std::vector<std::string_view>&)> visit =
      [&](const Middleware* m, std::vector<std::string_view>& path) -> base::Result<void> {
    if (std::find(path.begin(), path.end(), m->name) != path.end()) {
      path.push_back(m->name);
      return fail(m->line, "middlewares.{}: the chains name each other in a cycle: {}", m->name,
                  fmt::join(path, " -> "));
    }
    path.push_back(m->name);
    for (const std::string& ref : m->chain) {
      auto sub = visit(by_name[ref], path);
      if (!sub) return sub;
    }
    path.pop_back();
    return {};
  };
  for (const auto& m : all) {
    std::vector<std::string_view> path;
    auto ok = visit(m.get(), path);
    if (!ok) return ok;
  }
  return {};
}

base::Result<std::vector<std::shared_ptr<const Middleware>>> MiddlewareParser::parse(
    const YAML::Node& map, int line) {
  std::vector<std::shared_ptr<const Middleware>> out;
  if (map.IsNull()) return out;
  if (!map.IsMap())
    return fail(line, "middlewares: expected a mapping of names to middlewares, got {}",
                kindName(map));
  ASSIGN_OR_RETURN(std::vector<YamlEntry> items, yamlEntries(map, "middlewares", source_));
  for (const YamlEntry& e : items) {
    ASSIGN_OR_RETURN(Middleware m, one(e));
    out.push_back(std::make_shared<const Middleware>(std::move(m)));
  }
  RETURN_IF_ERROR(checkChains(out));
  return out;
}

void expand(const Middleware& m, const std::vector<std::shared_ptr<const Middleware>>& all,
            std::vector<std::shared_ptr<const Middleware>>* run) {
  for (const std::string& ref : m.chain) {
    for (const auto& x : all) {
      if (x->name != ref) continue;
      if (x->kind == MiddlewareKind::Chain)
        expand(*x, all, run);
      else
        run->push_back(x);
    }
  }
}

bool isHashOf(std::string_view hash, HashKind* kind) {
  if (hash.starts_with("$2y$") || hash.starts_with("$2b$") || hash.starts_with("$2a$")) {
    *kind = HashKind::Bcrypt;
    return hash.size() == 60;
  }
  if (hash.starts_with("$apr1$")) {
    *kind = HashKind::Apr1;
    size_t salt_end = hash.find('$', 6);
    return salt_end != std::string_view::npos && salt_end > 6 && salt_end - 6 <= 8 &&
           hash.size() - salt_end - 1 == 22;
  }
  if (hash.starts_with("{SHA}")) {
    *kind = HashKind::Sha1;
    auto raw = base::base64Decode(hash.substr(5));
    return raw && raw->size() == 20;
  }
  return false;
}

}  // namespace

base::Result<std::vector<HtpasswdUser>> parseHtpasswd(std::string_view text,
                                                      std::string_view source) {
  std::vector<HtpasswdUser> out;
  int number = 0;
  while (!text.empty()) {
    ++number;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.starts_with('#')) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return base::invalid("{}:{}: expected user:hash (as htpasswd writes it)", source, number);
    HtpasswdUser u;
    u.name = std::string(line.substr(0, colon));
    u.hash = std::string(line.substr(colon + 1));
    if (!isHashOf(u.hash, &u.kind))
      return base::invalid(
          "{}:{}: user '{}': the hash is not one burrow checks (bcrypt $2y$, apr1 $apr1$ or "
          "{{SHA}}; make one with htpasswd -B)",
          source, number, u.name);
    if (std::any_of(out.begin(), out.end(),
                    [&](const HtpasswdUser& x) { return x.name == u.name; }))
      return base::invalid("{}:{}: user '{}' appears twice", source, number, u.name);
    out.push_back(std::move(u));
  }
  return out;
}

bool ipAllowed(const Middleware& m, std::string_view client_ip) {
  if (m.allow.matcher == nullptr || client_ip.empty()) return false;
  RouteRequest req;
  req.client_ip = client_ip;
  return m.allow.matcher->matches(RuleRequest(req));
}

base::Result<std::vector<std::shared_ptr<const Middleware>>> parseMiddlewares(
    const YAML::Node& map, int line, std::string_view source, std::vector<std::string>* warnings) {
  return MiddlewareParser(source, warnings).parse(map, line);
}

base::Result<void> routeMiddlewares(const YamlEntry& e, std::string_view where,
                                    std::string_view source,
                                    const std::vector<std::shared_ptr<const Middleware>>& declared,
                                    IngressRule* r) {
  ASSIGN_OR_RETURN(std::vector<YamlItem> items, yamlScalars(e, /*single_ok=*/false, source));
  std::vector<std::string_view> names;
  for (const auto& m : declared) names.push_back(m->name);
  for (const YamlItem& i : items) {
    std::string name = i.text;
    if (size_t at = name.find('@'); at != std::string::npos) {
      if (name.substr(at) != "@file")
        return base::invalid(
            "{}:{}: {}middlewares: '{}': burrow reads middlewares from this file only (write "
            "NAME or NAME@file)",
            source, i.line, where, name);
      name.resize(at);
    }
    auto found = std::find_if(declared.begin(), declared.end(),
                              [&](const auto& m) { return m->name == name; });
    if (found == declared.end()) {
      std::string near = nearestKey(name, names);
      return base::invalid(
          "{}:{}: {}middlewares: no middleware '{}' under middlewares:{}", source, i.line, where,
          name,
          near.empty() ? (names.empty() ? std::string(" (the file declares none)")
                                        : fmt::format(" (declared: {})", fmt::join(names, ", ")))
                       : fmt::format("; did you mean '{}'?", near));
    }
    r->middlewares.push_back(name);
    if ((*found)->kind == MiddlewareKind::Chain)
      expand(**found, declared, &r->run);
    else
      r->run.push_back(*found);
  }
  return {};
}

std::shared_ptr<const Middleware> portalCheck(const Service& portal) {
  Middleware m;
  m.name = "access";
  m.kind = MiddlewareKind::ForwardAuth;
  Middleware::Forward& f = m.forward;
  const bool v6 = portal.host.find(':') != std::string::npos;
  f.authority = fmt::format("{}{}{}:{}", v6 ? "[" : "", portal.host, v6 ? "]" : "", portal.port);
  f.target = "/api/authz/forward-auth";
  f.address = fmt::format("{}://{}{}", portal.kind == ServiceKind::Https ? "https" : "http",
                          f.authority, f.target);
  f.service = portal;
  f.service.text = f.address;
  f.origin.connect_timeout = f.origin.tls_timeout = f.origin.response_timeout = kForwardAuthTimeout;
  f.response_headers = {"remote-user", "remote-groups", "remote-name", "remote-email"};
  return std::make_shared<const Middleware>(std::move(m));
}

base::Result<IngressRule> adminLogin(std::string_view users_file, std::string_view portal) {
  IngressRule r;
  r.service.kind = ServiceKind::HttpStatus;
  r.service.status = 404;
  if (!users_file.empty()) {
    Middleware m;
    m.name = "admin-users";
    m.kind = MiddlewareKind::BasicAuth;
    m.basic.realm = "burrow";
    m.basic.header_field = "remote-user";
    auto content = base::readFile(std::string(users_file), kMaxUsersFileBytes);
    if (!content)
      return base::invalid("--admin-users {}: {}", users_file, content.error().message());
    auto users = parseHtpasswd(*content, users_file);
    if (!users) return base::invalid("--admin-users {}", users.error().message());
    if (users->empty())
      return base::invalid("--admin-users {}: the file names no user; nobody could log in",
                           users_file);
    m.basic.users = std::move(*users);
    r.run.push_back(std::make_shared<const Middleware>(std::move(m)));
  }
  if (!portal.empty()) {
    auto s = parseService(portal);
    if (!s || (s->kind != ServiceKind::Http && s->kind != ServiceKind::Https))
      return base::invalid(
          "--admin-access {}: expected the http:// or https:// address of burrow "
          "auth (e.g. http://127.0.0.1:9091)",
          portal);
    r.run.push_back(portalCheck(*s));
  }
  return r;
}

namespace {

std::string quotedList(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + quotedScalar(v[i]);
  return out + "]";
}

}  // namespace

std::string formatMiddlewares(const std::vector<std::shared_ptr<const Middleware>>& all) {
  if (all.empty()) return "";
  std::string out = "middlewares:\n";
  for (const auto& p : all) {
    const Middleware& m = *p;
    auto type = std::find_if(std::begin(kTypes), std::end(kTypes),
                             [&](const TypeName& n) { return n.kind == m.kind; });
    out += fmt::format("  {}:\n    {}:\n", quotedScalar(m.name), type->name);
    auto line = [&](std::string_view key, const std::string& value) {
      out += fmt::format("      {}: {}\n", key, value);
    };
    switch (m.kind) {
      case MiddlewareKind::Headers: {
        const auto& h = m.headers;
        for (auto [key, list] : {std::pair{"customRequestHeaders", &h.request},
                                 {"customResponseHeaders", &h.response}}) {
          if (list->empty()) continue;
          out += fmt::format("      {}:\n", key);
          for (const HeaderSetting& s : *list)
            out += fmt::format("        {}: {}\n", quotedScalar(s.name), quotedScalar(s.value));
        }
        line("stsSeconds", std::to_string(h.sts_seconds));
        for (auto [key, v] : {std::pair{"stsIncludeSubdomains", h.sts_include_subdomains},
                              {"stsPreload", h.sts_preload},
                              {"forceSTSHeader", h.force_sts_header},
                              {"frameDeny", h.frame_deny},
                              {"contentTypeNosniff", h.content_type_nosniff},
                              {"browserXssFilter", h.browser_xss_filter}})
          line(key, v ? "true" : "false");
        for (auto [key, v] : {std::pair{"customFrameOptionsValue", &h.custom_frame_options_value},
                              {"contentSecurityPolicy", &h.content_security_policy},
                              {"referrerPolicy", &h.referrer_policy},
                              {"permissionsPolicy", &h.permissions_policy}})
          if (!v->empty()) line(key, quotedScalar(*v));
        break;
      }
      case MiddlewareKind::StripPrefix:
        line("prefixes", quotedList(m.prefixes));
        break;
      case MiddlewareKind::AddPrefix:
        line("prefix", quotedScalar(m.prefix));
        break;
      case MiddlewareKind::RedirectScheme:
        line("scheme", quotedScalar(m.redirect.scheme));
        if (!m.redirect.port.empty()) line("port", m.redirect.port);
        line("permanent", m.redirect.permanent ? "true" : "false");
        break;
      case MiddlewareKind::RedirectRegex:
        line("regex", quotedScalar(m.redirect.regex));
        line("replacement", quotedScalar(m.redirect.replacement));
        line("permanent", m.redirect.permanent ? "true" : "false");
        break;
      case MiddlewareKind::IpAllowList:
        line("sourceRange", quotedList(m.allow.source_range));
        line("rejectStatusCode", std::to_string(m.allow.reject_status));
        break;
      case MiddlewareKind::BasicAuth: {
        std::vector<std::string> users;
        for (const HtpasswdUser& u : m.basic.users) users.push_back(u.name + ":" + u.hash);
        line("users", quotedList(users));
        line("realm", quotedScalar(m.basic.realm));
        line("removeHeader", m.basic.remove_header ? "true" : "false");
        if (!m.basic.header_field.empty()) line("headerField", quotedScalar(m.basic.header_field));
        break;
      }
      case MiddlewareKind::Chain:
        line("middlewares", quotedList(m.chain));
        break;
      case MiddlewareKind::RateLimit:
        line("average", std::to_string(m.rate.average));
        line("period", fmt::format("{}ms", m.rate.period.count()));
        line("burst", std::to_string(m.rate.burst));
        break;
      case MiddlewareKind::ForwardAuth: {
        const auto& f = m.forward;
        line("address", quotedScalar(f.address));
        line("trustForwardHeader", f.trust_forward_header ? "true" : "false");
        if (!f.response_headers.empty())
          line("authResponseHeaders", quotedList(f.response_headers));
        if (!f.response_headers_regex.empty())
          line("authResponseHeadersRegex", quotedScalar(f.response_headers_regex));
        if (!f.request_headers.empty()) line("authRequestHeaders", quotedList(f.request_headers));
        line("preserveLocationHeader", f.preserve_location ? "true" : "false");
        line("maxResponseBodySize", std::to_string(f.max_response_body));
        if (f.origin.no_tls_verify || !f.origin.ca_pool.empty()) {
          out += "      tls:\n";
          if (!f.origin.ca_pool.empty())
            out += fmt::format("        ca: {}\n", quotedScalar(f.origin.ca_pool));
          out += fmt::format("        insecureSkipVerify: {}\n",
                             f.origin.no_tls_verify ? "true" : "false");
        }
        break;
      }
    }
  }
  return out;
}

std::string middlewareTypeName(MiddlewareKind kind) {
  for (const TypeName& n : kTypes)
    if (n.kind == kind) return std::string(n.name);
  return "?";
}

}  // namespace config
