// config: parsing and validation of the files users already have. This header covers the
// connector's cloudflared-compatible config.yml (tunnel, credentials-file, originRequest,
// ingress) and its ingress-rule matching, the syntax of systemd unit files, and the
// VPN-confinement namespace files of `burrow netns` (with wg-quick files), and burrow.yaml, the
// stack file that ties them together. Every error names the
// file, the line and, for ingress problems, the rule number, with wording close to cloudflared's so
// users can search it. Parsed configs are immutable values: safe to share read-only across threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace re2 {
class RE2;
}

namespace config {

class Rule;  // a parsed Traefik v3 rule (rule.h, private to src/config)

using Millis = std::chrono::milliseconds;

enum class ServiceKind {
  Http,        // http:// or ws:// — plain HTTP/1.1 to host:port
  Https,       // https:// or wss:// — HTTP/1.1 over TLS to host:port
  Unix,        // unix:/path — plain HTTP/1.1 over a Unix socket
  UnixTls,     // unix+tls:/path — HTTP/1.1 over TLS over a Unix socket
  HttpStatus,  // http_status:NNN — answer NNN with an empty body, no origin
  HelloWorld,  // hello_world — burrow's built-in test page
  Tcp,         // tcp://, ssh://, rdp://, smb:// — raw TCP to host:port, carried as WebSocket
};

struct Service {
  ServiceKind kind = ServiceKind::HttpStatus;
  std::string text;       // as written in the config, for messages
  std::string host;       // Http/Https: host name or address (no brackets for IPv6)
  uint16_t port = 0;      // Http/Https: explicit or scheme default (80/443)
  std::string unix_path;  // Unix/UnixTls
  int status = 0;         // HttpStatus
  // Http/Https in burrow.yaml: NAME of "http://[NAME]:PORT", a service of the stack whose
  // address is decided when it runs; `host` is empty until then.
  std::string name;
};

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
  std::optional<Millis> response_timeout;         // responseTimeout, default 100s
  // access: {required: true, portal: URL}: each request needs a session of burrow's login portal
  // at URL; a Service without kind Http/Https (the default) is `required: false`.
  std::optional<Service> access;
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
  // How long the origin has to send its response head once the request went out; then 504.
  Millis response_timeout{100'000};
  // Set: every request first asks burrow's portal (docs/routing.md, "Access").
  std::optional<Service> access_portal;
};

// Child values win over parent values field by field.
OriginRequest merge(const OriginRequest& parent, const OriginRequest& child);
OriginSettings resolve(const OriginRequest& req);

// ---- Traefik middlewares (docs/routing.md, "Middlewares") ----
// Declared in a top-level `middlewares:` map of config.yml or burrow.yaml, as Traefik's file
// provider declares them (`sec: {headers: {frameDeny: true}}`), and named by a route
// (`middlewares: [sec]`). Parsed and checked here; run by the connector (http::serveRoute).

enum class MiddlewareKind {
  Headers,         // adds, replaces or removes request and response headers
  StripPrefix,     // removes the first matching prefix from the path
  AddPrefix,       // puts a prefix before the path
  RedirectScheme,  // answers a redirect to another scheme (and port)
  RedirectRegex,   // answers a redirect to the replacement of a regexp over the URL
  IpAllowList,     // refuses clients outside the source ranges
  BasicAuth,       // requires a user and password of an htpasswd list
  Chain,           // the middlewares it names, in order
  RateLimit,       // refuses a client's requests beyond a rate
  ForwardAuth,     // asks an authentication server; its 2xx lets the request on, else its answer
};

// How long a forwardAuth server has to accept the connection (and finish TLS) and then to send
// its response head; past either, the request is refused with 500. Traefik's client waits 30 s.
inline constexpr Millis kForwardAuthTimeout{10'000};
// The most of an authentication server's answer body kept to return to the client, when
// maxResponseBodySize does not say: a larger one is refused with 500.
inline constexpr int64_t kForwardAuthMaxBody = 1 << 20;

// A header a `headers` middleware sets; an empty value removes the header.
struct HeaderSetting {
  std::string name;  // lowercase
  std::string value;
};

// The hash kinds of an htpasswd line that basicAuth checks.
enum class HashKind {
  Bcrypt,  // $2y$ / $2b$ / $2a$: crypt(3)'s bcrypt
  Apr1,    // $apr1$: Apache's MD5-crypt
  Sha1,    // {SHA}: base64 of SHA-1, unsalted
};

struct HtpasswdUser {
  std::string name;
  std::string hash;  // as written
  HashKind kind = HashKind::Bcrypt;
};

// One line "user:hash" per user; empty lines and lines starting with '#' are skipped. Errors
// name `source` and the line ("users:3: ..."), never the hash.
base::Result<std::vector<HtpasswdUser>> parseHtpasswd(std::string_view text,
                                                      std::string_view source);

struct Middleware {
  std::string name;  // its key under `middlewares:`
  MiddlewareKind kind = MiddlewareKind::Headers;
  int line = 0;

  struct Headers {
    std::vector<HeaderSetting> request;   // customRequestHeaders, sorted by name
    std::vector<HeaderSetting> response;  // customResponseHeaders, sorted by name
    int64_t sts_seconds = 0;              // stsSeconds; 0: no Strict-Transport-Security
    bool sts_include_subdomains = false;
    bool sts_preload = false;
    bool force_sts_header = false;  // also on plain-HTTP requests
    bool frame_deny = false;        // X-Frame-Options: DENY
    std::string custom_frame_options_value;
    bool content_type_nosniff = false;
    bool browser_xss_filter = false;
    std::string content_security_policy;
    std::string referrer_policy;
    std::string permissions_policy;
  } headers;
  std::vector<std::string> prefixes;  // stripPrefix, in order
  std::string prefix;                 // addPrefix, starts with '/'
  struct Redirect {
    std::string scheme;  // redirectScheme
    std::string port;    // redirectScheme; "" keeps none
    std::string regex;   // redirectRegex, RE2
    std::shared_ptr<const re2::RE2> re;
    std::string replacement;  // redirectRegex, $1 / ${1} for groups
    bool permanent = false;
  } redirect;
  struct AllowList {
    std::vector<std::string> source_range;  // as written
    std::shared_ptr<const Rule> matcher;    // ClientIP() of each range, or'ed
    int reject_status = 403;                // rejectStatusCode
  } allow;
  struct Basic {
    std::vector<HtpasswdUser> users;  // users: then usersFile (the file wins on a repeated name)
    std::string realm = "traefik";
    bool remove_header = false;
    std::string header_field;  // headerField: the user name goes to the origin in it
  } basic;
  std::vector<std::string> chain;  // chain.middlewares, names
  struct Rate {
    int64_t average = 0;  // requests per period; 0: no limit
    Millis period{1000};
    int64_t burst = 1;
  } rate;
  struct Forward {
    std::string address;    // as written
    Service service;        // the address's scheme, host and port (Http or Https)
    std::string authority;  // host[:port] of the address: the Host header sent
    std::string target;     // path and query of the address, "/" when it has none
    // tls: (ca, insecureSkipVerify) and the fixed kForwardAuthTimeout.
    OriginSettings origin;
    bool trust_forward_header = false;
    std::vector<std::string> response_headers;  // authResponseHeaders, lowercase
    std::string response_headers_regex;         // authResponseHeadersRegex, as written (RE2)
    std::shared_ptr<const re2::RE2> response_re;
    std::vector<std::string> request_headers;         // authRequestHeaders, lowercase; empty: all
    bool preserve_location = false;                   // preserveLocationHeader
    int64_t max_response_body = kForwardAuthMaxBody;  // maxResponseBodySize (-1 in Traefik)
    std::string tls_ca;  // tls.ca as written (resolved in origin.ca_pool)
  } forward;
};

// True when `client_ip` (an address, as RouteRequest::client_ip) is in the ipAllowList's ranges.
bool ipAllowed(const Middleware& m, std::string_view client_ip);

// One rule of an ingress list (config.yml) or of a stack's routes. Either a cloudflared rule
// (`hostname` and `path`, tried in file order) or a Traefik v3 rule (`rule`, tried first, by
// priority): see matchIngress() and docs/routing.md.
struct IngressRule {
  std::string hostname;  // "" or "*" match every host; "*.x.y" any subdomain of x.y; else exact
  std::string path;      // RE2 source searched (unanchored) in the request path; "" = any
  std::shared_ptr<const re2::RE2> path_re;  // compiled `path`, null when path is empty
  std::string rule;                         // `rule:` as written; "" for a cloudflared rule
  std::shared_ptr<const Rule> matcher;      // parsed `rule`, null when rule is empty
  // Rule routes: `priority:`, or the rule's length in bytes when it is unset or 0 (Traefik's
  // default). Higher is tried first.
  int priority = 0;
  Service service;
  OriginSettings origin;  // top-level originRequest merged with the rule's
  int line = 0;           // line of the rule in the file (1-based), 0 when synthesised
  // `middlewares:` as written (a trailing "@file" dropped), in order.
  std::vector<std::string> middlewares;
  // What runs for the rule, in order: `middlewares` with each chain replaced by its members.
  std::vector<std::shared_ptr<const Middleware>> run;
};

struct TunnelConfig {
  std::string source;                  // file path, or "--url" for a synthesised config
  std::string tunnel;                  // `tunnel:` (informational for burrow)
  std::string credentials_file;        // `credentials-file:` (path of a token file)
  std::string token_file;              // `token-file:` (same as --token-file)
  std::optional<int> ha_connections;   // `ha-connections:`
  std::optional<Millis> grace_period;  // `grace-period:`
  std::string metrics;                 // `metrics:` address (loopback), may be empty
  std::string loglevel;                // `loglevel:` debug|info|warn|error|fatal|off, may be empty
  std::vector<IngressRule> ingress;    // never empty after a successful parse
  std::vector<std::shared_ptr<const Middleware>> middlewares;  // `middlewares:`, by name
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
// config.yml text that parses back to `cfg`'s rules: each rule with its originRequest in full
// (every field decided). An Http/Https service is written from its kind, host and port, so a
// stack route whose `[NAME]` was given a host (`service.host`) is written with that address.
std::string formatTunnelConfig(const TunnelConfig& cfg);
// `metrics:` and --metrics: HOST:PORT with HOST localhost, an address in 127.0.0.0/8, or
// [::1]; port 0 picks a free one. The error says what is wrong with ADDR.
base::Result<void> checkMetricsAddress(std::string_view addr);
// The nearest of `known` to `key` (a typo's likely meaning), or "" when none is close.
std::string nearestKey(std::string_view key, const std::vector<std::string_view>& known);
// The login in front of the dashboard on an address that is not loopback: basicAuth by the
// htpasswd file `users_file` (--admin-users; realm "burrow", the user passed on as Remote-User),
// then burrow auth's verdict from `portal` (--admin-access: its http(s):// address, as an
// access: portal:), either or both. A rule whose `run` holds them in that order and whose
// service answers nothing; its errors name the flag, and the file's line.
base::Result<IngressRule> adminLogin(std::string_view users_file, std::string_view portal);
// Parses one `service:` value ("http://localhost:8080", "unix:/run/x.sock", ...). With
// `bracket_names`, "[NAME]" without a ':' is a service name (Service::name), not an address.
base::Result<Service> parseService(std::string_view text, bool bracket_names = false);

// What a request offers to routing: the parts `rule:` matchers read. Views into the caller's
// request, which must outlive the call.
struct RouteRequest {
  std::string_view method = "GET";
  std::string_view host;    // the Host header or :authority, with or without a port
  std::string_view target;  // origin-form: "/path?query"
  // The header lines, names lowercase; a name may repeat. Left empty when no rule needs them.
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  // The address the client connected to the edge from (never X-Forwarded-For); "" when
  // unknown, and then no ClientIP() matches.
  std::string_view client_ip;
};

// The ingress lookup. Rules with `rule:` are tried first: of those whose rule matches, the one
// with the highest priority wins, the earlier one in the file on a tie (Traefik's order). When
// none matches, the cloudflared rules are tried in file order, first match wins, cloudflared's
// semantics: the host's port is dropped, hostnames compare case-insensitively, `*.suffix`
// matches any depth but not the apex, `path` is searched in the path (query excluded,
// percent-escapes decoded as Go's URL.Path is). A list without `rule:` behaves exactly as
// cloudflared's. Returns the 0-based rule index; the last rule is a catch-all, so there is
// always a match.
size_t matchIngress(const TunnelConfig& cfg, const RouteRequest& req);
// The same for a GET of `path` (query allowed) at `host`, with no headers and no client address.
size_t matchIngress(const TunnelConfig& cfg, std::string_view host, std::string_view path);
// True when some rule has a `rule:` (matching then reads headers and the client address).
bool hasRouteRules(const TunnelConfig& cfg);

// `burrow tunnel ingress rule URL`: "Matched rule #N" plus the rule, as cloudflared prints.
// For `rule:` routes the URL is taken as a GET with no headers from an unknown address:
// Header(), HeaderRegexp() and ClientIP() match nothing, and an "assumed:" line says so.
base::Result<std::string> describeMatch(const TunnelConfig& cfg, std::string_view url);

// ---- systemd unit files (see systemd.syntax(7)) ----

// One `Key=Value` line. The value is trimmed and, when the line went on with a trailing
// backslash, joined with a space; quoting and escapes are left to the directive that reads it.
struct UnitEntry {
  std::string key;
  std::string value;
  int line = 0;      // where the assignment starts, 1-based
  std::string file;  // the file it is in: the unit's own or one of its drop-ins
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

// Where systemd looks for system units, highest priority first: $SYSTEMD_UNIT_PATH when set
// (colon-separated; an empty last component appends the default list, as in systemd), else
// /etc/systemd/system, /run/systemd/system, /usr/local/lib/systemd/system,
// /lib/systemd/system, /usr/lib/systemd/system.
std::vector<std::string> unitSearchPath();

// A unit as systemd loads it: NAME ("ssh.service", "getty@tty1.service") is looked up in
// `search_path` (the first directory that has it wins; an instance falls back to its template),
// a PATH (anything with a '/') is read as is, with its directory searched first for drop-ins.
// Then the drop-ins NAME.d/*.conf from every directory of the path (also those of the template,
// of the dash-prefixes "a-.service.d" and of "service.d") are merged in, in the order of their
// file names; a drop-in in an earlier directory hides one of the same name in a later one.
// A unit linked to /dev/null, or empty, is masked: an error whose message says "masked".
// A symlink to another unit file takes that file's name, as an alias does in systemd.
base::Result<UnitFile> loadUnit(std::string_view name_or_path,
                                const std::vector<std::string>& search_path = unitSearchPath());
// Same from text; `source` is the path used in messages and for `name`.
base::Result<UnitFile> parseUnitFile(std::string_view text, std::string_view source);

// ---- Authelia's files: `burrow auth --config configuration.yml` and users_database.yml ----
// The keys burrow implements keep Authelia's names, defaults and meaning (docs/auth.md);
// keys it does not implement are named in one warning, except those that would change who
// gets in (a rule criterion burrow cannot check, a two_factor policy without storage): those
// are errors.

// access_control policies, in Authelia's words.
enum class AccessPolicy {
  Bypass,     // anyone, no session needed; answered without identity headers
  OneFactor,  // a session that passed the password (first factor)
  TwoFactor,  // a session that passed a second factor (TOTP); needs storage.local.path and key
  Deny,       // 403; an anonymous request meeting a rule with a subject is asked to log in
};

// One of access_control.rules: it matches when every criterion it has matches.
struct AccessRule {
  std::vector<std::string> domains;    // lowercase; "*.example.com" matches any subdomain
  std::vector<std::string> resources;  // RE2 sources, searched in "PATH?QUERY"; any matches
  std::vector<std::shared_ptr<const re2::RE2>> resource_res;  // compiled `resources`
  // subject: any inner list whose every item ("user:NAME", "group:NAME") the user meets.
  std::vector<std::vector<std::string>> subjects;
  std::vector<std::string> methods;  // uppercase; empty: any method
  AccessPolicy policy = AccessPolicy::Deny;
  int line = 0;
};

// One of session.cookies, with session's own values filled in where it sets none.
struct SessionCookie {
  std::string domain;                   // lowercase, no leading dot
  std::string authelia_url;             // the portal's URL for this domain, without a trailing '/'
  std::string default_redirection_url;  // may be empty
  std::string name = "authelia_session";
  std::string same_site = "lax";      // lax | strict | none
  Millis expiration{3'600'000};       // absolute lifetime of a session
  Millis inactivity{300'000};         // a session unused this long ends
  Millis remember_me{2'592'000'000};  // lifetime when keepMeLoggedIn; 0: disabled (-1)
  bool secure = true;                 // authelia_url is https
  int line = 0;
};

struct AutheliaConfig {
  std::string source;
  std::string listen_host;  // server.address: "" = every address
  uint16_t listen_port = 9091;
  std::string session_secret;          // session.secret or AUTHELIA_SESSION_SECRET_FILE
  std::vector<SessionCookie> cookies;  // never empty after a successful parse
  std::string users_file;              // authentication_backend.file.path, as written
  AccessPolicy default_policy = AccessPolicy::Deny;
  std::vector<AccessRule> rules;
  int max_retries = 3;  // regulation; 0 disables it
  Millis find_time{120'000};
  Millis ban_time{300'000};
  std::string totp_issuer = "Authelia";
  // TOTP secrets: a SQLite database, its secrets encrypted under the key (at least 20
  // characters). Both are required when a policy is two_factor.
  std::string storage_path;            // storage.local.path
  std::string storage_encryption_key;  // storage.encryption_key or its _FILE variable
  // "FILE: keys burrow does not implement (ignored): ..." — at most one, also logged.
  std::vector<std::string> warnings;
};

// Reads and validates FILE; `env` holds the AUTHELIA_* environment variables (NAME=VALUE).
// Errors name the file, the line and the key:
//   "configuration.yml:14: access_control.rules[2].policy: unknown policy 'allow' ..."
base::Result<AutheliaConfig> loadAutheliaConfig(const std::string& path,
                                                const std::vector<std::string>& env);
base::Result<AutheliaConfig> parseAutheliaConfig(std::string_view yaml, std::string_view source,
                                                 const std::vector<std::string>& env);
// An Authelia duration: an integer of seconds, or blocks of NUMBER UNIT ("1h30m", "5 minutes",
// "1M"): y(ear) 365 days, M(onth) 30 days, w(eek), d(ay), h(our), m(inute), s(econd), ms.
base::Result<Millis> parseAutheliaDuration(std::string_view text);

// A stored password hash, its format checked; verifying a password is auth's job.
struct PasswordHash {
  enum class Kind {
    Argon2id,  // $argon2id$v=19$m=KIB,t=N,p=N$SALT$HASH (PHC string, base64 without padding)
    Bcrypt,    // $2a$ / $2b$ / $2y$ COST $ 22 salt + 31 hash characters
    ShaCrypt,  // $6$ / $5$ [rounds=N$] SALT $ HASH (sha512crypt / sha256crypt)
  };
  Kind kind = Kind::Argon2id;
  std::string encoded;
};
base::Result<PasswordHash> parsePasswordHash(std::string_view encoded);

struct AutheliaUser {
  std::string name;
  PasswordHash password;
  std::string display_name;
  std::string email;  // may be empty
  std::vector<std::string> groups;
  bool disabled = false;
  int line = 0;
};

struct UsersDatabase {
  std::string source;
  std::vector<AutheliaUser> users;  // in file order
  std::vector<std::string> warnings;

  const AutheliaUser* find(std::string_view name) const;
};
// users_database.yml: `users: NAME: {password, displayname, email, groups, disabled}`. A bad
// hash is an error naming the user and the line.
base::Result<UsersDatabase> loadUsersDatabase(const std::string& path);
base::Result<UsersDatabase> parseUsersDatabase(std::string_view yaml, std::string_view source);

// An absolute http(s) URL split as the portal needs it. Host lowercase, no userinfo.
struct HttpUrl {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets
  uint16_t port = 0;   // explicit or the scheme's
  bool port_given = false;
  std::string path;  // "/..." (at least "/"), query included
};
base::Result<HttpUrl> parseHttpUrl(std::string_view text);
// True when `host` is `domain` or one of its subdomains (both lowercase, no port).
bool hostWithinDomain(std::string_view host, std::string_view domain);

// ---- VPN confinement: `burrow netns up NAME -f FILE` ----
// The file is YAML with vpn-confinement's option names under `namespaces.<name>`:
//
//   namespaces:
//     vpn:
//       securityProfile: default          # default | highAssurance
//       wireguard:
//         interface: wg-vpn               # host-wide unique, at most 15 bytes
//         privateKeyFile: /etc/burrow/vpn.key
//         address: [10.2.0.2/32]
//         mtu: 1420
//         peers:
//           - publicKey: <base64>
//             endpoint: 192.0.2.1:51820
//             allowedIPs: [0.0.0.0/0]
//             persistentKeepalive: 25
//         endpointRefresh: 120            # seconds; host name endpoints are resolved again
//       dns: {mode: strict, servers: [10.2.0.1], allowHostResolverIPC: false}
//       egress: {mode: allowAllTunnel, allowedCidrs: [], allowedPorts: []}
//       ipv6: {mode: disable}
//       publishToHost: {tcp: [8080], udp: [7000], hostAddress: 10.99.0.1}
//       accessibleFrom: [192.168.1.0/24]
//       portMappings: [{from: 80, to: 8080, protocol: tcp}]   # tcp | udp | both
//       openVPNPorts: [{port: 51413, protocol: both}]
//
// `wireguardConfigFile: F` (vpn-confinement's name) is `wireguard.configFile: F`; with it the
// `wireguard:` mapping may be left out, and the interface is then NAME0.

struct WireguardPeer {
  std::string public_key;                // base64 of 32 bytes
  std::string preshared_key_file;        // optional
  std::string endpoint;                  // "1.2.3.4:51820", "[2001:db8::1]:51820" or "host:port"
  std::vector<std::string> allowed_ips;  // CIDRs, normalised ("10.0.0.0/8")
  int persistent_keepalive = 0;          // seconds; 0: off
  int line = 0;  // its list item, or its [Peer] line in the wg-quick file it came from

  bool operator==(const WireguardPeer&) const = default;
};

struct WireguardSettings {
  std::string interface;
  std::string private_key_file;
  std::string private_key;             // inline base64 (refused by highAssurance)
  std::vector<std::string> addresses;  // "10.2.0.2/32", "fd00::2/128"; host bits are kept
  int mtu = 1420;
  int listen_port = 0;  // 0: any
  std::vector<WireguardPeer> peers;
  // A wg-quick file whose [Interface]/[Peer] fill what is unset or empty here; a list set
  // here (address, peers) replaces the file's whole list. Relative to the YAML file.
  std::string config_file;
  bool allow_hostname_endpoints = false;
  // endpointRefresh: seconds between two resolutions of host name endpoints (in the host's
  // namespace); a peer whose name now gives another address is pointed at it.
  int endpoint_refresh = 120;
  int line = 0;

  bool operator==(const WireguardSettings&) const = default;
};

struct NamespaceConfig {
  std::string name;    // the key under `namespaces:`
  std::string source;  // file path, for messages
  int line = 0;
  std::string security_profile = "default";  // default | highAssurance
  WireguardSettings wireguard;
  std::string dns_mode = "strict";       // strict | compat
  std::vector<std::string> dns_servers;  // addresses; strict mode needs at least one
  bool dns_allow_host_resolver_ipc = false;
  std::string egress_mode;  // allowAllTunnel | allowList; highAssurance defaults to allowList
  std::vector<std::string> egress_allowed_cidrs;  // normalised CIDRs
  std::vector<uint16_t> egress_allowed_ports;
  std::string ipv6_mode = "disable";  // the only mode
  std::vector<uint16_t> publish_tcp;  // publishToHost.tcp
  std::vector<uint16_t> publish_udp;  // publishToHost.udp
  // publishToHost.hostAddress: the host's end of the host link (the namespace's end is the
  // other address of its /30); "" picks a free /30 in 169.254.0.0/16.
  std::string publish_host_address;
  // accessibleFrom: IPv4 CIDRs (normalised) whose clients may reach the published and mapped
  // ports through the host; the namespace routes its replies to them over the host link.
  std::vector<std::string> accessible_from;
  // portMappings: host port `from` (on the host's own addresses, for accessibleFrom clients)
  // forwarded to port `to` in the namespace, which is published to the host as well.
  struct PortMapping {
    uint16_t from = 0, to = 0;
    bool tcp = true, udp = false;  // protocol: tcp (default), udp or both

    bool operator==(const PortMapping&) const = default;
  };
  std::vector<PortMapping> port_mappings;
  // openVPNPorts: ports open to new connections coming in through the tunnel.
  std::vector<uint16_t> open_vpn_tcp, open_vpn_udp;
  std::vector<std::string> warnings;  // "FILE:LINE: unknown key 'x'" (also logged)

  bool operator==(const NamespaceConfig&) const = default;
};

// Reads FILE and returns namespace NAME from it, validated (and its wireguard.configFile
// merged in). Errors name the file, the line and the key:
//   "vpn.yml:9: namespaces.vpn.egress.allowedCidrs: '10.0.0.0/33' is not a CIDR"
//   "vpn.yml:4: namespaces.vpn.wireguard.privateKey: highAssurance refuses an inline private
//    key; use privateKeyFile"
base::Result<NamespaceConfig> loadNamespace(const std::string& path, std::string_view name);
// Same from text; `source` names it in messages and relative paths are kept as written. A
// wireguard.configFile is still read, relative to `source`'s directory.
base::Result<NamespaceConfig> parseNamespace(std::string_view yaml, std::string_view source,
                                             std::string_view name);
// A wg-quick file ([Interface] PrivateKey, Address, MTU, ListenPort, DNS; [Peer] PublicKey,
// PresharedKey, Endpoint, AllowedIPs, PersistentKeepalive). wg-quick's PostUp/PreDown and
// the like are errors: burrow runs no shell hooks. So is an inline PresharedKey: burrow takes
// preshared keys only from presharedKeyFile in the YAML. Keys are case-insensitive.
struct WgQuick {
  WireguardSettings wireguard;
  std::vector<std::string> dns;  // the DNS= addresses
};
base::Result<WgQuick> parseWgQuick(std::string_view text, std::string_view source);

// ---- The stack: burrow.yaml, one file for the whole system ----
// The parts above tied together: the tunnel's token, VPN namespaces (the keys of `burrow netns`
// files), services (a unit file or an argv, each with its network) and routes (config.yml's
// ingress rules, whose service URLs may name a service: "http://[photos]:2342"):
//
//   tunnel: {tokenFile: token}                 # relative paths: from the file's directory
//   network: {pool: 10.77.0.0/16}              # private links are carved from it
//   namespaces: {vpn: {wireguard: {...}}}
//   services:
//     photos: {unit: units/photos.service, network: private, connects: [db]}
//     db: {exec: [/usr/bin/postgres, -D, /data], sandbox: {User: postgres}}
//   routes: [{hostname: photos.example.net, service: "http://[photos]:2342"},
//            {service: "http_status:404"}]
//
// Parsing checks everything the file alone can decide (names that refer to services and
// namespaces, `after` cycles, bind sources, the pool's size, unit files); running it is
// another subsystem's job.

enum class StackNetwork {
  Private,  // its own network namespace and a /30 link carved from the pool (the default)
  Host,     // the host's network namespace
  None,     // a network namespace with loopback only
  Vpn,      // inside the VPN namespace StackService::vpn, fail-closed
};

// One of `binds:`, "SRC:DST[:ro]".
struct StackBind {
  std::string source;  // as resolved against the file's directory; it existed when parsed
  std::string target;  // absolute, inside the service
  bool read_only = false;
  int line = 0;
};

struct StackService {
  std::string name;  // its key under `services:`
  int line = 0;
  // Exactly one of `unit` (a unit file: its [Service] is the sandbox and ExecStart) and `exec`.
  std::optional<UnitFile> unit;
  std::vector<std::string> exec;  // argv
  // `sandbox:`, [Service] directives as written (a list value gives one entry per item), after
  // the unit's own when there is one. The sandbox checks them when the service is launched.
  std::vector<UnitEntry> sandbox;
  StackNetwork network = StackNetwork::Private;
  std::string vpn;          // Vpn: a key of Stack::namespaces
  bool pick_users = false;  // users: pick (a private 65536-id range); default none
  std::vector<StackBind> binds;
  std::vector<std::string> connects;  // services it may open connections to
  std::vector<std::string> after;     // services started before it (no cycle)
  std::vector<std::string> binds_to;  // services whose stop stops it
  bool ephemeral = false;
};

struct Stack {
  std::string source;      // file path, for messages
  std::string token_file;  // tunnel.tokenFile, resolved; "" when unset
  // tunnel.login (a login token file, resolved) and tunnel.name: instead of tokenFile, `up`
  // makes tunnel NAME on the login's edge and routes the routes' hostnames to it.
  std::string login_file, tunnel_name;
  // The hostnames the routes need routed to the tunnel: `hostname:` values and the domains of
  // `rule:` Host() matchers, in order, once each.
  std::vector<std::string> hostnames() const;
  // The connector's --access-log (tunnel.accessLog, resolved), --access-log-format
  // (tunnel.accessLogFormat) and --metrics (tunnel.metrics); "" when unset.
  std::string access_log, access_log_format, metrics;
  std::string pool = "10.77.0.0/16";        // network.pool, an IPv4 CIDR
  std::vector<NamespaceConfig> namespaces;  // in file order
  std::vector<StackService> services;       // in file order
  std::vector<IngressRule> routes;          // empty without routes:; else ends in a catch-all
  std::vector<std::shared_ptr<const Middleware>> middlewares;  // `middlewares:`, by name
  std::vector<std::string> warnings;  // "FILE:LINE: unknown key ..." (also logged)

  // The service called `name`, or nullptr.
  const StackService* service(std::string_view name) const;
};

// Reads and validates FILE. Errors name the file, the line and the key:
//   "burrow.yaml:12: services.photos.network: no namespace 'vpm' under namespaces:; did you
//    mean 'vpn'?"
base::Result<Stack> loadStack(const std::string& path);
// Same from text; `source` names it in messages, and relative paths are resolved against its
// directory.
base::Result<Stack> parseStack(std::string_view yaml, std::string_view source);

}  // namespace config
