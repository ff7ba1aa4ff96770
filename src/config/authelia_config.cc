// Authelia's configuration.yml and users_database.yml, read as Authelia reads them, for the
// parts burrow implements (docs/auth.md lists them).
//
// As in the other YAML parsers, yaml-cpp's exceptions stay inside parseYaml(). Keys burrow
// does not implement are collected and named in ONE warning per file, so that a config
// written for Authelia loads and says plainly what it does not do. The exceptions are keys
// that decide who gets in: a rule criterion burrow cannot check (it would let the wrong
// requests through or refuse the right ones), a two_factor policy without the storage its TOTP
// secrets need, another authentication backend. Those are errors: a protection that is not
// enforced must not look as if it were.
#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/base.h"
#include "config/config.h"
#include "config/yaml_internal.h"

namespace config {
namespace {

constexpr size_t kMaxFileBytes = 1 << 20;
constexpr std::string_view kDefaultSessionName = "authelia_session";

template <class... Args>
base::Unexpected failAt(std::string_view source, int line, fmt::format_string<Args...> f,
                        Args&&... args) {
  return base::invalid("{}:{}: {}", source, line, fmt::format(f, std::forward<Args>(args)...));
}

// "NAME=VALUE" entries of `env` as a map.
std::map<std::string, std::string> envMap(const std::vector<std::string>& env) {
  std::map<std::string, std::string> out;
  for (const std::string& e : env) {
    const size_t eq = e.find('=');
    if (eq != std::string::npos) out[e.substr(0, eq)] = e.substr(eq + 1);
  }
  return out;
}

bool allDigits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// The scalar `e` names, or an error when it is a list or a mapping.
base::Result<std::string> scalarOf(const YamlEntry& e, std::string_view source) {
  if (e.value.IsNull()) return std::string();
  if (!e.value.IsScalar())
    return failAt(source, e.line, "{}: expected a value, got {}", e.path, kindName(e.value));
  return e.value.Scalar();
}

base::Result<bool> boolOf(const YamlEntry& e, std::string_view source) {
  ASSIGN_OR_RETURN(std::string v, scalarOf(e, source));
  if (v == "true") return true;
  if (v == "false") return false;
  return failAt(source, e.line, "{}: expected true or false, got '{}'", e.path, v);
}

base::Result<Millis> durationOf(const YamlEntry& e, std::string_view source) {
  ASSIGN_OR_RETURN(std::string v, scalarOf(e, source));
  auto d = parseAutheliaDuration(v);
  if (!d) return failAt(source, e.line, "{}: {}", e.path, d.error().message());
  return *d;
}

base::Result<AccessPolicy> policyOf(std::string_view text, std::string_view source, int line,
                                    std::string_view path) {
  if (text == "bypass") return AccessPolicy::Bypass;
  if (text == "one_factor") return AccessPolicy::OneFactor;
  if (text == "deny") return AccessPolicy::Deny;
  if (text == "two_factor") return AccessPolicy::TwoFactor;
  return failAt(source, line, "{}: unknown policy '{}' (bypass, one_factor, two_factor or deny)",
                path, text);
}

// Walks a file's mappings, keeping the keys burrow does not implement for the one warning.
class Walker {
 public:
  explicit Walker(std::string_view source) : source_(source) {}

  base::Result<std::vector<YamlEntry>> entries(const YAML::Node& map, const std::string& path,
                                               int line) {
    if (!map.IsMap() && !map.IsNull()) {
      return failAt(source_, line, "{}: expected a mapping, got {}", path.empty() ? "file" : path,
                    kindName(map));
    }
    if (map.IsNull()) return std::vector<YamlEntry>{};
    return yamlEntries(map, path, source_);
  }

  void ignored(const YamlEntry& e) {
    ignored_.push_back(fmt::format("{} (line {})", e.path, e.line));
  }
  void ignored(std::string text) { ignored_.push_back(std::move(text)); }

  // The one warning, if any key was ignored.
  void finish(std::vector<std::string>* warnings) const {
    if (ignored_.empty()) return;
    std::string w = fmt::format("{}: keys burrow does not implement (ignored): {}", source_,
                                fmt::join(ignored_, ", "));
    LOG_WARN("{}", w);
    warnings->push_back(std::move(w));
  }

  std::string_view source() const { return source_; }

 private:
  std::string source_;
  std::vector<std::string> ignored_;
};

base::Result<std::vector<std::string>> stringsOf(const YamlEntry& e, std::string_view source) {
  ASSIGN_OR_RETURN(std::vector<YamlItem> items, yamlScalars(e, true, source));
  std::vector<std::string> out;
  for (YamlItem& i : items) out.push_back(std::move(i.text));
  return out;
}

bool validDomain(std::string_view d) {
  if (d.empty() || d.size() > 253 || d.front() == '.' || d.back() == '.') return false;
  for (char c : d)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  return d.find("..") == std::string_view::npos;
}

// One `subject` item: "user:NAME" or "group:NAME".
base::Result<std::string> subjectItem(std::string_view text, std::string_view source, int line,
                                      std::string_view path) {
  for (std::string_view prefix : {"user:", "group:"}) {
    if (text.starts_with(prefix) && text.size() > prefix.size()) return std::string(text);
  }
  if (text.starts_with("oauth2:client:")) {
    return failAt(source, line,
                  "{}: '{}': burrow has no OAuth 2.0 clients; a rule it cannot "
                  "match is refused",
                  path, text);
  }
  return failAt(source, line, "{}: '{}' is not a subject (write user:NAME or group:NAME)", path,
                text);
}

// subject: a string, a list of strings (any), or a list of lists (any of all).
base::Result<std::vector<std::vector<std::string>>> subjectsOf(const YamlEntry& e,
                                                               std::string_view source) {
  std::vector<std::vector<std::string>> out;
  auto item = [&](const YAML::Node& n) -> base::Result<std::string> {
    if (!n.IsScalar()) {
      return failAt(source, lineOf(n), "{}: expected user:NAME or group:NAME, got {}", e.path,
                    kindName(n));
    }
    return subjectItem(n.Scalar(), source, lineOf(n), e.path);
  };
  if (e.value.IsNull()) return out;
  if (e.value.IsScalar()) {
    ASSIGN_OR_RETURN(std::string s, item(e.value));
    out.push_back({std::move(s)});
    return out;
  }
  if (!e.value.IsSequence())
    return failAt(source, e.line, "{}: expected a list, got {}", e.path, kindName(e.value));
  for (const YAML::Node& n : e.value) {
    std::vector<std::string> all;
    if (n.IsSequence()) {
      for (const YAML::Node& m : n) {
        ASSIGN_OR_RETURN(std::string s, item(m));
        all.push_back(std::move(s));
      }
      if (all.empty()) return failAt(source, lineOf(n), "{}: an empty list matches nobody", e.path);
    } else {
      ASSIGN_OR_RETURN(std::string s, item(n));
      all.push_back(std::move(s));
    }
    out.push_back(std::move(all));
  }
  return out;
}

base::Result<AccessRule> parseRule(const YAML::Node& node, const std::string& path, Walker& w) {
  const std::string_view source = w.source();
  AccessRule rule;
  rule.line = lineOf(node);
  ASSIGN_OR_RETURN(std::vector<YamlEntry> entries, w.entries(node, path, rule.line));
  bool has_policy = false;
  for (const YamlEntry& e : entries) {
    if (e.key == "domain") {
      ASSIGN_OR_RETURN(std::vector<std::string> domains, stringsOf(e, source));
      for (std::string& d : domains) {
        d = base::toLower(d);
        if (d.starts_with("{user}.") || d.starts_with("{group}.")) {
          return failAt(source, e.line,
                        "{}: '{}': burrow does not match {{user}} or {{group}} "
                        "domains; a rule it cannot match is refused",
                        e.path, d);
        }
        const std::string_view bare = std::string_view(d).substr(d.starts_with("*.") ? 2 : 0);
        if (!validDomain(bare)) {
          return failAt(source, e.line,
                        "{}: '{}' is not a domain (a host name, or *. and a host name)", e.path, d);
        }
        rule.domains.push_back(std::move(d));
      }
    } else if (e.key == "resources") {
      ASSIGN_OR_RETURN(std::vector<std::string> res, stringsOf(e, source));
      for (std::string& r : res) {
        RE2::Options opt;
        opt.set_log_errors(false);
        auto re = std::make_shared<const RE2>(r, opt);
        if (!re->ok())
          return failAt(source, e.line, "{}: '{}' is not a regular expression: {}", e.path, r,
                        re->error());
        rule.resource_res.push_back(std::move(re));
        rule.resources.push_back(std::move(r));
      }
    } else if (e.key == "subject") {
      ASSIGN_OR_RETURN(rule.subjects, subjectsOf(e, source));
    } else if (e.key == "methods") {
      ASSIGN_OR_RETURN(std::vector<std::string> methods, stringsOf(e, source));
      static constexpr std::string_view kMethods[] = {
          "GET",   "HEAD",     "POST",      "PUT",   "DELETE", "CONNECT", "OPTIONS", "TRACE",
          "PATCH", "PROPFIND", "PROPPATCH", "MKCOL", "COPY",   "MOVE",    "LOCK",    "UNLOCK"};
      for (std::string& m : methods) {
        if (std::find(std::begin(kMethods), std::end(kMethods), m) == std::end(kMethods))
          return failAt(source, e.line, "{}: '{}' is not a method (GET, POST, ...)", e.path, m);
        rule.methods.push_back(std::move(m));
      }
    } else if (e.key == "policy") {
      ASSIGN_OR_RETURN(std::string p, scalarOf(e, source));
      ASSIGN_OR_RETURN(rule.policy, policyOf(p, source, e.line, e.path));
      has_policy = true;
    } else if (e.key == "domain_regex" || e.key == "networks" || e.key == "query") {
      return failAt(source, e.line,
                    "{}: burrow does not implement this criterion yet; a rule it cannot match as "
                    "written would decide the wrong requests, so it is refused",
                    e.path);
    } else {
      return failAt(source, e.line,
                    "{}: unknown rule key (domain, resources, subject, methods, "
                    "policy)",
                    e.path);
    }
  }
  if (rule.domains.empty()) return failAt(source, rule.line, "{}: a rule needs a domain", path);
  if (!has_policy) return failAt(source, rule.line, "{}: a rule needs a policy", path);
  if (rule.policy == AccessPolicy::Bypass && !rule.subjects.empty()) {
    return failAt(source, rule.line,
                  "{}: a bypass rule cannot have a subject (knowing the user needs a login)", path);
  }
  return rule;
}

// server.address: [tcp://][HOST][:PORT][/PATH]; burrow serves at the root only.
base::Result<void> parseServerAddress(std::string_view text, AutheliaConfig* cfg,
                                      std::string_view source, int line) {
  std::string_view rest = text;
  if (const size_t sep = rest.find("://"); sep != std::string_view::npos) {
    const std::string_view scheme = rest.substr(0, sep);
    if (scheme != "tcp" && scheme != "tcp4" && scheme != "tcp6") {
      return failAt(source, line, "server.address: '{}': burrow listens on tcp:// addresses only",
                    text);
    }
    rest = rest.substr(sep + 3);
  }
  const size_t slash = rest.find('/');
  if (slash != std::string_view::npos) {
    if (rest.substr(slash) != "/") {
      return failAt(source, line,
                    "server.address: '{}': burrow serves the portal at / only, not "
                    "under a path",
                    text);
    }
    rest = rest.substr(0, slash);
  }
  if (rest.find(':') == std::string_view::npos || (rest.starts_with('[') && rest.ends_with(']'))) {
    // A host alone: Authelia's default port.
    cfg->listen_host = std::string(rest);
    if (cfg->listen_host.starts_with('['))
      cfg->listen_host = cfg->listen_host.substr(1, cfg->listen_host.size() - 2);
    cfg->listen_port = 9091;
    return {};
  }
  auto hp = base::splitHostPort(rest, true);
  if (!hp) return failAt(source, line, "server.address: {}", hp.error().message());
  cfg->listen_host = hp->host;
  cfg->listen_port = hp->port;
  return {};
}

// Session values that session.cookies[] inherit.
struct SessionDefaults {
  std::string name{kDefaultSessionName};
  std::string same_site = "lax";
  Millis expiration{3'600'000}, inactivity{300'000}, remember_me{2'592'000'000};
};

base::Result<Millis> rememberMeOf(const YamlEntry& e, std::string_view source) {
  ASSIGN_OR_RETURN(std::string v, scalarOf(e, source));
  if (v == "-1") return Millis(0);
  return durationOf(e, source);
}

base::Result<std::string> sameSiteOf(const YamlEntry& e, std::string_view source) {
  ASSIGN_OR_RETURN(std::string v, scalarOf(e, source));
  if (v != "lax" && v != "strict" && v != "none")
    return failAt(source, e.line, "{}: '{}' is not lax, strict or none", e.path, v);
  return v;
}

// The keys `session` and each of `session.cookies` share; false when `e` is none of them.
base::Result<bool> sharedSessionKey(const YamlEntry& e, SessionDefaults* d,
                                    std::string_view source) {
  if (e.key == "name") {
    ASSIGN_OR_RETURN(d->name, scalarOf(e, source));
  } else if (e.key == "same_site") {
    ASSIGN_OR_RETURN(d->same_site, sameSiteOf(e, source));
  } else if (e.key == "expiration") {
    ASSIGN_OR_RETURN(d->expiration, durationOf(e, source));
  } else if (e.key == "inactivity") {
    ASSIGN_OR_RETURN(d->inactivity, durationOf(e, source));
  } else if (e.key == "remember_me") {
    ASSIGN_OR_RETURN(d->remember_me, rememberMeOf(e, source));
  } else {
    return false;
  }
  return true;
}

base::Result<SessionCookie> parseCookie(const YAML::Node& node, const std::string& path,
                                        const SessionDefaults& d, Walker& w) {
  const std::string_view source = w.source();
  SessionCookie c;
  c.line = lineOf(node);
  SessionDefaults own = d;
  ASSIGN_OR_RETURN(std::vector<YamlEntry> entries, w.entries(node, path, c.line));
  int url_line = c.line, redirect_line = c.line;
  for (const YamlEntry& e : entries) {
    ASSIGN_OR_RETURN(const bool shared, sharedSessionKey(e, &own, source));
    if (shared) continue;
    if (e.key == "domain") {
      ASSIGN_OR_RETURN(std::string v, scalarOf(e, source));
      c.domain = base::toLower(v);
      if (!validDomain(c.domain))
        return failAt(source, e.line, "{}: '{}' is not a domain name", e.path, v);
    } else if (e.key == "authelia_url") {
      ASSIGN_OR_RETURN(c.authelia_url, scalarOf(e, source));
      url_line = e.line;
    } else if (e.key == "default_redirection_url") {
      ASSIGN_OR_RETURN(c.default_redirection_url, scalarOf(e, source));
      redirect_line = e.line;
    } else {
      w.ignored(e);
    }
  }
  c.name = own.name;
  c.same_site = own.same_site;
  c.expiration = own.expiration;
  c.inactivity = own.inactivity;
  c.remember_me = own.remember_me;
  if (c.domain.empty()) return failAt(source, c.line, "{}.domain is required", path);
  if (c.authelia_url.empty()) return failAt(source, c.line, "{}.authelia_url is required", path);
  auto url = parseHttpUrl(c.authelia_url);
  if (!url) return failAt(source, url_line, "{}.authelia_url: {}", path, url.error().message());
  if (!hostWithinDomain(url->host, c.domain)) {
    return failAt(source, url_line, "{}.authelia_url: '{}' is not within the cookie domain '{}'",
                  path, c.authelia_url, c.domain);
  }
  if (url->path.find('?') != std::string::npos)
    return failAt(source, url_line, "{}.authelia_url: a query has no place here", path);
  c.secure = url->scheme == "https";
  while (c.authelia_url.ends_with('/')) c.authelia_url.pop_back();
  if (!c.default_redirection_url.empty()) {
    auto r = parseHttpUrl(c.default_redirection_url);
    if (!r) {
      return failAt(source, redirect_line, "{}.default_redirection_url: {}", path,
                    r.error().message());
    }
    if (!hostWithinDomain(r->host, c.domain)) {
      return failAt(source, redirect_line,
                    "{}.default_redirection_url: '{}' is not within the cookie domain '{}'", path,
                    c.default_redirection_url, c.domain);
    }
  }
  if (c.name.empty()) return failAt(source, c.line, "{}.name: a cookie needs a name", path);
  for (char ch : c.name) {
    if (ch <= 0x20 || ch >= 0x7f ||
        std::string_view("()<>@,;:\\\"/[]?={}").find(ch) != std::string_view::npos) {
      return failAt(source, c.line, "{}.name: '{}' is not a cookie name", path, c.name);
    }
  }
  if (c.expiration.count() <= 0 || c.inactivity.count() <= 0)
    return failAt(source, c.line, "{}: expiration and inactivity must be positive", path);
  return c;
}

base::Result<void> parseSession(const YamlEntry& top, AutheliaConfig* cfg, Walker& w) {
  const std::string_view source = w.source();
  ASSIGN_OR_RETURN(std::vector<YamlEntry> entries, w.entries(top.value, "session", top.line));
  SessionDefaults d;
  const YamlEntry* cookies = nullptr;
  for (const YamlEntry& e : entries) {
    ASSIGN_OR_RETURN(const bool shared, sharedSessionKey(e, &d, source));
    if (shared) continue;
    if (e.key == "secret") {
      ASSIGN_OR_RETURN(cfg->session_secret, scalarOf(e, source));
    } else if (e.key == "cookies") {
      cookies = &e;
    } else {
      w.ignored(e);
    }
  }
  if (!cookies || cookies->value.IsNull()) {
    return failAt(source, top.line,
                  "session.cookies is required: at least one {{domain, authelia_url}}");
  }
  if (!cookies->value.IsSequence()) {
    return failAt(source, cookies->line, "session.cookies: expected a list, got {}",
                  kindName(cookies->value));
  }
  int i = 0;
  for (const YAML::Node& n : cookies->value) {
    const std::string path = fmt::format("session.cookies[{}]", i++);
    ASSIGN_OR_RETURN(SessionCookie c, parseCookie(n, path, d, w));
    for (const SessionCookie& other : cfg->cookies) {
      if (other.domain == c.domain)
        return failAt(source, c.line, "{}.domain: '{}' is configured twice", path, c.domain);
    }
    cfg->cookies.push_back(std::move(c));
  }
  if (cfg->cookies.empty())
    return failAt(source, cookies->line, "session.cookies: at least one cookie domain is needed");
  return {};
}

base::Result<void> parseAccessControl(const YamlEntry& top, AutheliaConfig* cfg, Walker& w) {
  const std::string_view source = w.source();
  ASSIGN_OR_RETURN(std::vector<YamlEntry> entries,
                   w.entries(top.value, "access_control", top.line));
  for (const YamlEntry& e : entries) {
    if (e.key == "default_policy") {
      ASSIGN_OR_RETURN(std::string p, scalarOf(e, source));
      ASSIGN_OR_RETURN(cfg->default_policy, policyOf(p, source, e.line, e.path));
    } else if (e.key == "rules") {
      if (e.value.IsNull()) continue;
      if (!e.value.IsSequence())
        return failAt(source, e.line, "{}: expected a list, got {}", e.path, kindName(e.value));
      int i = 0;
      for (const YAML::Node& n : e.value) {
        ASSIGN_OR_RETURN(AccessRule r,
                         parseRule(n, fmt::format("access_control.rules[{}]", i++), w));
        cfg->rules.push_back(std::move(r));
      }
    } else {
      // access_control.networks only names networks for rules' `networks`, which are refused.
      w.ignored(e);
    }
  }
  return {};
}

base::Result<void> parseRegulation(const YamlEntry& top, AutheliaConfig* cfg, Walker& w) {
  const std::string_view source = w.source();
  ASSIGN_OR_RETURN(std::vector<YamlEntry> entries, w.entries(top.value, "regulation", top.line));
  for (const YamlEntry& e : entries) {
    if (e.key == "max_retries") {
      ASSIGN_OR_RETURN(std::string v, scalarOf(e, source));
      int n = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (!allDigits(v) || ec != std::errc() || end != v.data() + v.size() || n > 1'000'000)
        return failAt(source, e.line, "{}: expected a number of retries, got '{}'", e.path, v);
      cfg->max_retries = n;
    } else if (e.key == "find_time") {
      ASSIGN_OR_RETURN(cfg->find_time, durationOf(e, source));
    } else if (e.key == "ban_time") {
      ASSIGN_OR_RETURN(cfg->ban_time, durationOf(e, source));
    } else {
      w.ignored(e);
    }
  }
  return {};
}

// The secrets AUTHELIA_<KEY>_FILE may set, with the key they set.
struct SecretVar {
  std::string_view var;
  std::string_view key;
  std::string AutheliaConfig::*field;
};
constexpr SecretVar kSecretVars[] = {
    {"AUTHELIA_SESSION_SECRET_FILE", "session.secret", &AutheliaConfig::session_secret},
    {"AUTHELIA_STORAGE_ENCRYPTION_KEY_FILE", "storage.encryption_key",
     &AutheliaConfig::storage_encryption_key},
};

base::Result<void> applySecretFiles(const std::map<std::string, std::string>& env,
                                    AutheliaConfig* cfg, Walker& w) {
  for (const auto& [name, value] : env) {
    if (!name.starts_with("AUTHELIA_") || !name.ends_with("_FILE")) continue;
    const SecretVar* known = nullptr;
    for (const SecretVar& s : kSecretVars)
      if (s.var == name) known = &s;
    if (!known) {
      w.ignored(fmt::format("{} (environment)", name));
      continue;
    }
    if (!(cfg->*known->field).empty()) {
      return base::invalid("{}: {} is set both in the file and by {}; keep one", w.source(),
                           known->key, name);
    }
    auto text = base::readFile(value, 64 * 1024);
    if (!text) return base::invalid("{}: {}", name, text.error().message());
    std::string secret = std::move(*text);
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    if (secret.empty()) return base::invalid("{}: the file {} is empty", name, value);
    cfg->*known->field = std::move(secret);
  }
  return {};
}

// The first two_factor policy's line, or 0 when there is none; -1 for default_policy.
int twoFactorLine(const AutheliaConfig& cfg) {
  for (const AccessRule& r : cfg.rules)
    if (r.policy == AccessPolicy::TwoFactor) return r.line;
  return cfg.default_policy == AccessPolicy::TwoFactor ? -1 : 0;
}

// Authelia's rule for the key (20 characters at least), and a two_factor policy needs both the
// database and the key: its TOTP secrets are kept there, encrypted.
base::Result<void> checkStorage(const AutheliaConfig& cfg, int storage_line, int key_line) {
  const std::string_view source = cfg.source;
  if (!cfg.storage_encryption_key.empty() && cfg.storage_encryption_key.size() < 20) {
    if (key_line == 0) {
      return base::invalid(
          "{}: storage.encryption_key (AUTHELIA_STORAGE_ENCRYPTION_KEY_FILE) must be at least "
          "20 characters",
          source);
    }
    return failAt(source, key_line, "storage.encryption_key: must be at least 20 characters");
  }
  const int tf = twoFactorLine(cfg);
  if (tf == 0) return {};
  const std::string where =
      tf > 0 ? fmt::format("the two_factor rule at line {}", tf) : "default_policy two_factor";
  const int line = storage_line ? storage_line : 1;
  if (cfg.storage_path.empty()) {
    return failAt(source, line,
                  "storage.local.path is required by {}: TOTP secrets are kept in that SQLite "
                  "database",
                  where);
  }
  if (cfg.storage_encryption_key.empty()) {
    return failAt(source, line,
                  "storage.encryption_key (or AUTHELIA_STORAGE_ENCRYPTION_KEY_FILE) is required "
                  "by {}: TOTP secrets are stored encrypted under it",
                  where);
  }
  return {};
}

base::Result<AutheliaConfig> parseConfigRoot(const YAML::Node& root, std::string_view source,
                                             const std::map<std::string, std::string>& env) {
  AutheliaConfig cfg;
  cfg.source = std::string(source);
  Walker w(source);
  ASSIGN_OR_RETURN(std::vector<YamlEntry> top, w.entries(root, "", 1));
  bool have_session = false, have_backend = false;
  int storage_line = 0, key_line = 0;
  for (const YamlEntry& e : top) {
    if (e.key == "server") {
      ASSIGN_OR_RETURN(std::vector<YamlEntry> es, w.entries(e.value, "server", e.line));
      for (const YamlEntry& s : es) {
        if (s.key == "address") {
          ASSIGN_OR_RETURN(std::string v, scalarOf(s, source));
          RETURN_IF_ERROR(parseServerAddress(v, &cfg, source, s.line));
        } else {
          w.ignored(s);
        }
      }
    } else if (e.key == "session") {
      RETURN_IF_ERROR(parseSession(e, &cfg, w));
      have_session = true;
    } else if (e.key == "authentication_backend") {
      ASSIGN_OR_RETURN(std::vector<YamlEntry> es,
                       w.entries(e.value, "authentication_backend", e.line));
      for (const YamlEntry& b : es) {
        if (b.key == "file") {
          ASSIGN_OR_RETURN(std::vector<YamlEntry> fs, w.entries(b.value, b.path, b.line));
          for (const YamlEntry& f : fs) {
            if (f.key == "path") {
              ASSIGN_OR_RETURN(cfg.users_file, scalarOf(f, source));
            } else {
              w.ignored(f);
            }
          }
          have_backend = true;
        } else if (b.key == "ldap") {
          return failAt(source, b.line,
                        "{}: burrow reads users from a file only "
                        "(authentication_backend.file.path)",
                        b.path);
        } else {
          w.ignored(b);
        }
      }
    } else if (e.key == "access_control") {
      RETURN_IF_ERROR(parseAccessControl(e, &cfg, w));
    } else if (e.key == "regulation") {
      RETURN_IF_ERROR(parseRegulation(e, &cfg, w));
    } else if (e.key == "totp") {
      ASSIGN_OR_RETURN(std::vector<YamlEntry> es, w.entries(e.value, "totp", e.line));
      for (const YamlEntry& t : es) {
        if (t.key == "issuer") {
          ASSIGN_OR_RETURN(cfg.totp_issuer, scalarOf(t, source));
        } else {
          w.ignored(t);
        }
      }
    } else if (e.key == "storage") {
      storage_line = e.line;
      ASSIGN_OR_RETURN(std::vector<YamlEntry> es, w.entries(e.value, "storage", e.line));
      for (const YamlEntry& s : es) {
        if (s.key == "encryption_key") {
          ASSIGN_OR_RETURN(cfg.storage_encryption_key, scalarOf(s, source));
          key_line = s.line;
        } else if (s.key == "local") {
          ASSIGN_OR_RETURN(std::vector<YamlEntry> ls, w.entries(s.value, s.path, s.line));
          for (const YamlEntry& l : ls) {
            if (l.key == "path") {
              ASSIGN_OR_RETURN(cfg.storage_path, scalarOf(l, source));
            } else {
              w.ignored(l);
            }
          }
        } else {
          w.ignored(s);
        }
      }
    } else {
      w.ignored(e);
    }
  }
  RETURN_IF_ERROR(applySecretFiles(env, &cfg, w));
  RETURN_IF_ERROR(checkStorage(cfg, storage_line, key_line));
  if (!have_session) {
    return failAt(source, 1,
                  "session is required (secret and cookies: [{{domain, "
                  "authelia_url}}])");
  }
  if (cfg.session_secret.empty()) {
    return failAt(source, 1,
                  "session.secret is required (or AUTHELIA_SESSION_SECRET_FILE naming a file)");
  }
  if (!have_backend || cfg.users_file.empty())
    return failAt(source, 1, "authentication_backend.file.path is required");
  w.finish(&cfg.warnings);
  return cfg;
}

// ---- users_database.yml ----

bool isB64(std::string_view s, std::string_view extra) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && extra.find(c) == std::string_view::npos) return false;
  }
  return true;
}

std::vector<std::string_view> splitDollar(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const size_t d = s.find('$', start);
    out.push_back(s.substr(start, d == std::string_view::npos ? d : d - start));
    if (d == std::string_view::npos) return out;
    start = d + 1;
  }
}

std::optional<uint64_t> number(std::string_view s) {
  uint64_t v = 0;
  if (!allDigits(s) || s.size() > 10) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

base::Result<void> checkArgon2id(const std::vector<std::string_view>& parts) {
  // "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
  if (parts.size() != 6 || parts[2] != "v=19")
    return base::invalid("expected $argon2id$v=19$m=KIB,t=N,p=N$SALT$HASH");
  std::optional<uint64_t> m, t, p;
  std::string_view params = parts[3];
  size_t start = 0;
  while (start <= params.size()) {
    size_t comma = params.find(',', start);
    if (comma == std::string_view::npos) comma = params.size();
    const std::string_view kv = params.substr(start, comma - start);
    start = comma + 1;
    if (kv.size() < 3 || kv[1] != '=') return base::invalid("bad parameter '{}'", kv);
    auto v = number(kv.substr(2));
    if (kv[0] == 'm' && !m) {
      m = v;
    } else if (kv[0] == 't' && !t) {
      t = v;
    } else if (kv[0] == 'p' && !p) {
      p = v;
    } else {
      return base::invalid("bad parameter '{}'", kv);
    }
    if (!v) return base::invalid("bad parameter '{}'", kv);
  }
  if (!m || !t || !p) return base::invalid("m, t and p are all needed");
  // The bounds keep one login from taking the machine: 4 GiB, 64 passes, 64 lanes at most.
  if (*p < 1 || *p > 64 || *t < 1 || *t > 64 || *m < 8 * *p || *m > (4u << 20))
    return base::invalid("parameters out of range (m 8*p..4194304 KiB, t 1..64, p 1..64)");
  if (!isB64(parts[4], "+/") || !isB64(parts[5], "+/") || parts[4].size() < 11 ||
      parts[5].size() < 6 || parts[5].size() > 1400)
    return base::invalid("salt and hash must be base64 without padding");
  return {};
}

base::Result<void> checkBcrypt(const std::vector<std::string_view>& parts) {
  // "", "2b", "12", 53 characters
  if (parts.size() != 4 || parts[2].size() != 2 || parts[3].size() != 53)
    return base::invalid("expected $2b$COST$ and 53 characters");
  auto cost = number(parts[2]);
  if (!cost || *cost < 4 || *cost > 31) return base::invalid("cost must be 04 to 31");
  if (!isB64(parts[3], "./"))
    return base::invalid("salt and hash use bcrypt's base64 (./A-Za-z0-9)");
  return {};
}

base::Result<void> checkShaCrypt(const std::vector<std::string_view>& parts) {
  // "", "6", ["rounds=N"], salt, hash
  size_t i = 2;
  if (parts.size() == 5) {
    if (!parts[2].starts_with("rounds=")) return base::invalid("expected rounds=N");
    auto r = number(parts[2].substr(7));
    if (!r || *r < 1000 || *r > 999'999'999) return base::invalid("rounds must be 1000 or more");
    i = 3;
  } else if (parts.size() != 4) {
    return base::invalid("expected ${}$[rounds=N$]SALT$HASH", parts[1]);
  }
  const size_t hash_len = parts[1] == "6" ? 86 : 43;
  if (parts[i].size() > 16 || !isB64(parts[i], "./") || parts[i + 1].size() != hash_len ||
      !isB64(parts[i + 1], "./"))
    return base::invalid("salt (up to 16) and hash ({}) characters of ./A-Za-z0-9", hash_len);
  return {};
}

base::Result<UsersDatabase> parseUsersRoot(const YAML::Node& root, std::string_view source) {
  UsersDatabase db;
  db.source = std::string(source);
  Walker w(source);
  ASSIGN_OR_RETURN(std::vector<YamlEntry> top, w.entries(root, "", 1));
  const YamlEntry* users = nullptr;
  for (const YamlEntry& e : top) {
    if (e.key == "users") {
      users = &e;
    } else {
      w.ignored(e);
    }
  }
  if (!users) return failAt(source, 1, "users: is required (users: NAME: {{password: ...}})");
  ASSIGN_OR_RETURN(std::vector<YamlEntry> names, w.entries(users->value, "users", users->line));
  for (const YamlEntry& u : names) {
    AutheliaUser user;
    user.name = u.key;
    user.line = u.line;
    if (user.name.empty() || user.name.size() > 255)
      return failAt(source, u.line, "users: a user name must be 1 to 255 characters");
    ASSIGN_OR_RETURN(std::vector<YamlEntry> fields, w.entries(u.value, u.path, u.line));
    bool has_password = false;
    for (const YamlEntry& f : fields) {
      if (f.key == "password") {
        ASSIGN_OR_RETURN(std::string v, scalarOf(f, source));
        auto h = parsePasswordHash(v);
        if (!h) {
          return failAt(source, f.line, "user '{}': password: {}", user.name, h.error().message());
        }
        user.password = std::move(*h);
        has_password = true;
      } else if (f.key == "displayname") {
        ASSIGN_OR_RETURN(user.display_name, scalarOf(f, source));
      } else if (f.key == "email") {
        ASSIGN_OR_RETURN(user.email, scalarOf(f, source));
      } else if (f.key == "groups") {
        ASSIGN_OR_RETURN(user.groups, stringsOf(f, source));
      } else if (f.key == "disabled") {
        ASSIGN_OR_RETURN(user.disabled, boolOf(f, source));
      } else {
        w.ignored(f);
      }
    }
    if (!has_password) return failAt(source, u.line, "user '{}' has no password", user.name);
    // These go out in Remote-* headers: a control character would break the answer.
    std::vector<std::string_view> values = {user.name, user.display_name, user.email};
    for (const std::string& g : user.groups) values.push_back(g);
    for (std::string_view v : values) {
      if (std::any_of(v.begin(), v.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
        return failAt(source, u.line,
                      "user '{}': names, email and groups may not hold control characters",
                      user.name);
    }
    for (const std::string& g : user.groups) {
      if (g.empty() || g.find(',') != std::string::npos)
        return failAt(source, u.line,
                      "user '{}': group '{}' may not be empty or hold a comma (Remote-Groups joins "
                      "them with commas)",
                      user.name, g);
    }
    db.users.push_back(std::move(user));
  }
  w.finish(&db.warnings);
  return db;
}

}  // namespace

base::Result<Millis> parseAutheliaDuration(std::string_view text) {
  std::string s;
  for (char c : text)
    if (c != ' ' && c != '\t') s.push_back(c);
  if (allDigits(s)) {
    auto n = number(s);
    if (!n) return base::invalid("'{}' is not a duration", text);
    return Millis(static_cast<int64_t>(*n) * 1000);
  }
  static constexpr std::pair<std::string_view, int64_t> kUnits[] = {
      // Longest names first, so that "minutes" is not read as "m" + "inutes".
      {"milliseconds", 1},
      {"millisecond", 1},
      {"minutes", 60'000},
      {"minute", 60'000},
      {"seconds", 1000},
      {"second", 1000},
      {"months", 2'592'000'000},
      {"month", 2'592'000'000},
      {"hours", 3'600'000},
      {"hour", 3'600'000},
      {"years", 31'536'000'000},
      {"year", 31'536'000'000},
      {"weeks", 604'800'000},
      {"week", 604'800'000},
      {"days", 86'400'000},
      {"day", 86'400'000},
      {"ms", 1},
      {"y", 31'536'000'000},
      {"M", 2'592'000'000},
      {"w", 604'800'000},
      {"d", 86'400'000},
      {"h", 3'600'000},
      {"m", 60'000},
      {"s", 1000},
  };
  std::string_view rest = s;
  int64_t total = 0;
  bool any = false;
  while (!rest.empty()) {
    if (rest.starts_with("and") && any) {
      rest.remove_prefix(3);
      continue;
    }
    size_t digits = 0;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
    auto n = number(rest.substr(0, digits));
    if (!n) return base::invalid("'{}' is not a duration (like 90s, 5m, 1h30m, 1d)", text);
    rest.remove_prefix(digits);
    int64_t unit = 0;
    for (const auto& [name, ms] : kUnits) {
      if (rest.starts_with(name)) {
        unit = ms;
        rest.remove_prefix(name.size());
        break;
      }
    }
    if (unit == 0) return base::invalid("'{}' is not a duration (like 90s, 5m, 1h30m, 1d)", text);
    if (static_cast<int64_t>(*n) > (int64_t{1} << 53) / unit)
      return base::invalid("'{}' is too long a duration", text);
    total += static_cast<int64_t>(*n) * unit;
    any = true;
  }
  if (!any) return base::invalid("'{}' is not a duration", text);
  return Millis(total);
}

base::Result<PasswordHash> parsePasswordHash(std::string_view encoded) {
  PasswordHash h;
  h.encoded = std::string(encoded);
  const std::vector<std::string_view> parts = splitDollar(encoded);
  if (parts.size() < 2 || !parts[0].empty()) {
    return base::invalid(
        "not a password hash (burrow reads $argon2id$..., bcrypt $2b$... and "
        "$6$.../$5$...; make one with `burrow auth hash-password`)");
  }
  const std::string_view id = parts[1];
  base::Result<void> ok;
  if (id == "argon2id") {
    h.kind = PasswordHash::Kind::Argon2id;
    ok = checkArgon2id(parts);
  } else if (id == "2a" || id == "2b" || id == "2y") {
    h.kind = PasswordHash::Kind::Bcrypt;
    ok = checkBcrypt(parts);
  } else if (id == "6" || id == "5") {
    h.kind = PasswordHash::Kind::ShaCrypt;
    ok = checkShaCrypt(parts);
  } else {
    return base::invalid(
        "hash algorithm '{}' is not one burrow verifies (argon2id, bcrypt, "
        "sha512crypt, sha256crypt)",
        id);
  }
  if (!ok) return base::invalid("bad {} hash: {}", id, ok.error().message());
  return h;
}

const AutheliaUser* UsersDatabase::find(std::string_view name) const {
  for (const AutheliaUser& u : users)
    if (u.name == name) return &u;
  return nullptr;
}

base::Result<AutheliaConfig> parseAutheliaConfig(std::string_view yaml, std::string_view source,
                                                 const std::vector<std::string>& env) {
  const auto vars = envMap(env);
  return parseYaml(yaml, source,
                   [&](const YAML::Node& root) { return parseConfigRoot(root, source, vars); });
}

base::Result<AutheliaConfig> loadAutheliaConfig(const std::string& path,
                                                const std::vector<std::string>& env) {
  ASSIGN_OR_RETURN(std::string text, base::readFile(path, kMaxFileBytes));
  return parseAutheliaConfig(text, path, env);
}

base::Result<UsersDatabase> parseUsersDatabase(std::string_view yaml, std::string_view source) {
  return parseYaml(yaml, source,
                   [&](const YAML::Node& root) { return parseUsersRoot(root, source); });
}

base::Result<UsersDatabase> loadUsersDatabase(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, base::readFile(path, kMaxFileBytes));
  return parseUsersDatabase(text, path);
}

base::Result<HttpUrl> parseHttpUrl(std::string_view text) {
  HttpUrl u;
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos) return base::invalid("'{}' is not an absolute URL", text);
  u.scheme = base::toLower(text.substr(0, sep));
  if (u.scheme != "http" && u.scheme != "https")
    return base::invalid("'{}': the scheme must be http or https", text);
  std::string_view rest = text.substr(sep + 3);
  const size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  u.path = end == std::string_view::npos ? "/" : std::string(rest.substr(end));
  if (u.path.starts_with('?')) u.path.insert(0, "/");
  if (const size_t hash = u.path.find('#'); hash != std::string::npos) u.path.resize(hash);
  if (authority.empty() || authority.find('@') != std::string_view::npos)
    return base::invalid("'{}' has no host, or has user information", text);
  for (char c : text)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '\\')
      return base::invalid("'{}' has a character a URL cannot hold", text);
  const uint16_t default_port = u.scheme == "https" ? 443 : 80;
  const bool bracketed = authority.starts_with('[');
  const size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && (!bracketed || colon > authority.find(']'))) {
    auto hp = base::splitHostPort(authority);
    if (!hp) return base::invalid("'{}': {}", text, hp.error().message());
    u.host = base::toLower(hp->host);
    u.port = hp->port;
    u.port_given = true;
  } else {
    std::string_view h = authority;
    if (bracketed) {
      if (!h.ends_with(']')) return base::invalid("'{}' has a bad host", text);
      h = h.substr(1, h.size() - 2);
    }
    u.host = base::toLower(h);
    u.port = default_port;
  }
  if (u.host.empty()) return base::invalid("'{}' has no host", text);
  return u;
}

bool hostWithinDomain(std::string_view host, std::string_view domain) {
  if (domain.empty()) return false;
  if (host == domain) return true;
  return host.size() > domain.size() + 1 && host.ends_with(domain) &&
         host[host.size() - domain.size() - 1] == '.';
}

}  // namespace config
