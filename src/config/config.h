// config: parsing and validation of the files users already have. This header covers the
// connector's cloudflared-compatible config.yml (tunnel, credentials-file, originRequest,
// ingress) and its ingress-rule matching, and the syntax of systemd unit files. Every error names the file, the line and, for
// ingress problems, the rule number, with wording close to cloudflared's so users can
// search it. Parsed configs are immutable values: safe to share read-only across threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace re2 {
class RE2;
}

namespace config {

using Millis = std::chrono::milliseconds;

// originRequest: set at top level (defaults for every rule) and per rule (overrides).
// Unset fields inherit; `resolve()` fills cloudflared's defaults.
struct OriginRequest {
  std::optional<Millis> connect_timeout;          // connectTimeout, default 30s
  std::optional<Millis> tls_timeout;              // tlsTimeout, default 10s
  std::optional<Millis> tcp_keep_alive;           // tcpKeepAlive, default 30s
  std::optional<bool> no_tls_verify;              // noTLSVerify, default false
  std::optional<std::string> http_host_header;    // httpHostHeader
  std::optional<std::string> origin_server_name;  // originServerName (TLS SNI)
  std::optional<std::string> ca_pool;             // caPool: PEM file of trusted CAs
  std::optional<int> keep_alive_connections;      // keepAliveConnections, default 100
  std::optional<Millis> keep_alive_timeout;       // keepAliveTimeout, default 90s
  std::optional<bool> disable_chunked_encoding;   // disableChunkedEncoding, default false
};

// originRequest with every field decided.
struct OriginSettings {
  Millis connect_timeout{30'000};
  Millis tls_timeout{10'000};
  Millis tcp_keep_alive{30'000};
  bool no_tls_verify = false;
  std::string http_host_header;    // empty: keep the client's Host
  std::string origin_server_name;  // empty: the service's host
  std::string ca_pool;             // empty: system CAs
  int keep_alive_connections = 100;
  Millis keep_alive_timeout{90'000};
  bool disable_chunked_encoding = false;
};

// Child values win over parent values field by field.
OriginRequest merge(const OriginRequest& parent, const OriginRequest& child);
OriginSettings resolve(const OriginRequest& req);

enum class ServiceKind {
  Http,        // http:// or ws:// — plain HTTP/1.1 to host:port
  Https,       // https:// or wss:// — HTTP/1.1 over TLS to host:port
  Unix,        // unix:/path — plain HTTP/1.1 over a Unix socket
  UnixTls,     // unix+tls:/path — HTTP/1.1 over TLS over a Unix socket
  HttpStatus,  // http_status:NNN — answer NNN with an empty body, no origin
  HelloWorld,  // hello_world — burrow's built-in test page
};

struct Service {
  ServiceKind kind = ServiceKind::HttpStatus;
  std::string text;       // as written in the config, for messages
  std::string host;       // Http/Https: host name or address (no brackets for IPv6)
  uint16_t port = 0;      // Http/Https: explicit or scheme default (80/443)
  std::string unix_path;  // Unix/UnixTls
  int status = 0;         // HttpStatus
};

struct IngressRule {
  std::string hostname;  // "" or "*" match every host; "*.x.y" any subdomain of x.y; else exact
  std::string path;      // RE2 source searched (unanchored) in the request path; "" = any
  std::shared_ptr<const re2::RE2> path_re;  // compiled `path`, null when path is empty
  Service service;
  OriginSettings origin;  // top-level originRequest merged with the rule's
  int line = 0;           // line of the rule in the file (1-based), 0 when synthesised
};

struct TunnelConfig {
  std::string source;                  // file path, or "--url" for a synthesised config
  std::string tunnel;                  // `tunnel:` (informational for burrow)
  std::string credentials_file;        // `credentials-file:` (path of a token file)
  std::string token_file;              // `token-file:` (same as --token-file)
  std::optional<int> ha_connections;   // `ha-connections:`
  std::optional<Millis> grace_period;  // `grace-period:`
  std::string metrics;                 // `metrics:` address (loopback), may be empty
  std::vector<IngressRule> ingress;    // never empty after a successful parse
  // "FILE:LINE: ..." for each key burrow ignored (cloudflared options it does not use,
  // typos). Already logged once each with LOG_WARN while parsing; kept so that
  // `ingress validate` and tests can show them.
  std::vector<std::string> warnings;
};

// Reads and validates FILE. Errors look like
//   "config.yml:12: ingress rule #3: hostname '*.a.*.b' may contain at most one wildcard ..."
base::Result<TunnelConfig> loadTunnelConfig(const std::string& path);
// Same from text; `source` names it in messages.
base::Result<TunnelConfig> parseTunnelConfig(std::string_view yaml, std::string_view source);
// The config `--url URL` means: one catch-all rule to URL.
base::Result<TunnelConfig> singleServiceConfig(std::string_view url);
// Parses one `service:` value ("http://localhost:8080", "unix:/run/x.sock", ...).
base::Result<Service> parseService(std::string_view text);

// First-match-wins ingress lookup, cloudflared's semantics: the host's port is dropped,
// hostnames compare case-insensitively, `*.suffix` matches any depth but not the apex,
// `path` is searched in the path (query excluded, percent-escapes decoded as Go's URL.Path
// is). Returns the 0-based rule index; the last rule is a catch-all, so there is always a
// match.
size_t matchIngress(const TunnelConfig& cfg, std::string_view host, std::string_view path);

// `burrow tunnel ingress rule URL`: "Matched rule #N" plus the rule, as cloudflared prints.
base::Result<std::string> describeMatch(const TunnelConfig& cfg, std::string_view url);

// ---- systemd unit files (see systemd.syntax(7)) ----

// One `Key=Value` line. The value is trimmed and, when the line went on with a trailing
// backslash, joined with a space; quoting and escapes are left to the directive that reads it.
struct UnitEntry {
  std::string key;
  std::string value;
  int line = 0;  // where the assignment starts, 1-based
};

struct UnitSection {
  std::string name;  // without brackets: "Service"
  int line = 0;
  std::vector<UnitEntry> entries;  // in file order; a key may repeat
};

struct UnitFile {
  std::string source;  // the path as given, for messages
  std::string name;    // the file's base name: "cloudflared.service"
  std::vector<UnitSection> sections;

  // The first section with this name, or nullptr.
  const UnitSection* section(std::string_view name) const;
};

// Reads FILE. Errors name it and the line: "x.service:7: expected Key=Value, got '...'".
base::Result<UnitFile> loadUnitFile(const std::string& path);
// Same from text; `source` is the path used in messages and for `name`.
base::Result<UnitFile> parseUnitFile(std::string_view text, std::string_view source);

}  // namespace config
