// VPN-confinement namespace files (`burrow netns up NAME -f FILE`) and the wg-quick files
// they may name in wireguard.configFile.
//
// The YAML side works as tunnel_config.cc does: yaml-cpp's exceptions stay inside the one try
// block of parseYaml() (yaml_internal.h), and the walker only calls accessors that do not throw on
// well-formed nodes. It runs in two passes. The walk records what the file says and the line
// of every key it met; validate() then merges the wg-quick file, fills the defaults and checks
// the rules that span keys (exactly one private key, highAssurance refusals, hostname
// endpoints), so that they hold whichever file a value came from.
//
// Keys burrow does not know are warnings (LOG_WARN once each, and NamespaceConfig::warnings):
// a file written for a newer burrow still loads. Wrong types and bad values are errors.
// Private keys are never echoed in messages.
#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/base.h"
#include "config/address_internal.h"
#include "config/config.h"
#include "config/yaml_internal.h"

namespace config {
namespace {

// Config files are small; the cap keeps a wrong path (a log, a disk image) from being slurped.
constexpr size_t kMaxConfigBytes = 1 << 20;
// Namespace names end up in interface and nftables names, so they share IFNAMSIZ's limit.
constexpr size_t kMaxNameBytes = 15;
constexpr size_t kMaxInterfaceBytes = 15;  // IFNAMSIZ - 1, see netdevice(7)
constexpr size_t kWireguardKeyBytes = 32;
constexpr int kMinMtu = 576;  // the smallest datagram every IPv4 host must accept (RFC 791)
constexpr int kMaxMtu = 65535;

// ---- Names, numbers, addresses, keys (messages without a FILE:LINE prefix) ----

bool isAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

base::Result<void> checkNamespaceName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxNameBytes && name.front() != '-';
  for (char c : name) ok = ok && (isAsciiAlnum(c) || c == '_' || c == '-');
  if (!ok) {
    return base::invalid(
        "namespace name '{}' is invalid: use 1 to {} characters of a-z A-Z 0-9 _ -, not "
        "starting with '-'",
        name, kMaxNameBytes);
  }
  return {};
}

// Stricter than the kernel's dev_valid_name(), which also lets through ':' and most
// punctuation that later confuses ip(8) and nft(8).
base::Result<void> checkInterfaceName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxInterfaceBytes && name != "." && name != "..";
  for (char c : name) ok = ok && (isAsciiAlnum(c) || c == '_' || c == '-' || c == '.');
  if (!ok) {
    return base::invalid(
        "'{}' is not a valid interface name: use 1 to {} bytes of a-z A-Z 0-9 _ . -, not '.' "
        "or '..'",
        name, kMaxInterfaceBytes);
  }
  return {};
}

std::string formatIp(const IpAddress& a) {
  std::array<char, INET6_ADDRSTRLEN> buf{};
  // Cannot fail: the family is one inet_pton accepted and the buffer fits either.
  ::inet_ntop(a.family, a.bytes.data(), buf.data(), buf.size());
  return buf.data();
}

enum class HostBits {
  Keep,   // an interface address: "10.2.0.2/24" names the host 10.2.0.2 on a /24
  Clear,  // a route or filter prefix: "10.1.2.3/8" means 10.0.0.0/8, as nft(8) reads it
};

// "ADDRESS[/PREFIX]" in canonical text; a bare address gets /32 or /128.
base::Result<std::string> normaliseCidr(std::string_view text, HostBits host_bits) {
  const size_t slash = text.find('/');
  std::optional<IpAddress> ip = parseIp(text.substr(0, slash));
  if (!ip) return base::invalid("'{}' is not a CIDR (ADDRESS/PREFIX, IPv4 or IPv6)", text);
  int prefix = ip->bits();
  if (slash != std::string_view::npos) {
    std::optional<int> p = parseNumber(text.substr(slash + 1), ip->bits());
    if (!p) {
      return base::invalid("'{}' is not a CIDR (the prefix length must be 0 to {})", text,
                           ip->bits());
    }
    prefix = *p;
  }
  if (host_bits == HostBits::Clear) {
    for (int i = 0; i < ip->bits() / 8; ++i) {
      const int keep = std::clamp(prefix - 8 * i, 0, 8);
      ip->bytes[i] &= static_cast<uint8_t>(0xff00 >> keep);
    }
  }
  return fmt::format("{}/{}", formatIp(*ip), prefix);
}

base::Result<std::string> normaliseIp(std::string_view text) {
  std::optional<IpAddress> ip = parseIp(text);
  if (!ip) return base::invalid("'{}' is not an IP address", text);
  return formatIp(*ip);
}

// RFC 1123 host names; the last label may not be all digits, so that "1.2.3.256" reads as a
// bad address rather than as a name to look up.
bool isHostname(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  bool last_all_digits = false;
  size_t start = 0;
  while (start <= h.size()) {
    size_t dot = h.find('.', start);
    if (dot == std::string_view::npos) dot = h.size();
    std::string_view label = h.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    last_all_digits = true;
    for (char c : label) {
      if (!isAsciiAlnum(c) && c != '-') return false;
      last_all_digits = last_all_digits && c >= '0' && c <= '9';
    }
    start = dot + 1;
  }
  return !last_all_digits;
}

struct Endpoint {
  std::string text;  // IP hosts in canonical form: "[2001:db8::1]:51820"
  bool is_hostname = false;
};

// "1.2.3.4:51820", "[2001:db8::1]:51820" or "vpn.example.com:51820", as wg(8) takes them.
base::Result<Endpoint> parseEndpoint(std::string_view text) {
  auto hp = base::splitHostPort(text);
  if (!hp) return base::invalid("endpoint {}", hp.error().message());
  if (hp->host.empty()) return base::invalid("endpoint '{}' has no host (write HOST:PORT)", text);
  const std::string_view host = hp->host;
  std::optional<IpAddress> ip = parseIp(host);
  Endpoint e;
  if (ip) {
    const std::string addr = formatIp(*ip);
    e.text = ip->family == AF_INET6 ? fmt::format("[{}]:{}", addr, hp->port)
                                    : fmt::format("{}:{}", addr, hp->port);
    return e;
  }
  if (!isHostname(host)) {
    return base::invalid("endpoint '{}': '{}' is neither an IP address nor a host name", text,
                         host);
  }
  e.text = std::string(text);
  e.is_hostname = true;
  return e;
}

// wg(8)'s key form: 44 characters of standard base64 with one '=', and no stray bits in the
// last character (re-encoding must give the same text back).
bool isWireguardKey(std::string_view text) {
  if (text.size() != 44) return false;
  base::Result<std::string> raw = base::base64Decode(text);
  return raw && raw->size() == kWireguardKeyBytes && base::base64Encode(*raw) == text;
}

// `dir/name` for a relative name; `name` itself when absolute or when `base` has no directory.
std::string besideFile(std::string_view base, std::string_view name) {
  if (name.starts_with('/')) return std::string(name);
  const size_t slash = base.rfind('/');
  if (slash == std::string_view::npos) return std::string(name);
  return fmt::format("{}/{}", base.substr(0, slash), name);
}

// ---- wg-quick files ----

// Where parseWgQuick() found the values that validation after a merge may still refuse.
struct WgQuickLines {
  int private_key = 0;
  std::vector<int> endpoints;  // per peer; 0 when the peer has no Endpoint
};

template <class... Args>
base::Unexpected failAt(std::string_view source, int line, fmt::format_string<Args...> f,
                        Args&&... args) {
  return base::invalid("{}:{}: {}", source, line, fmt::format(f, std::forward<Args>(args)...));
}

// Comma-separated values with the blanks dropped, as wg-quick splits them.
std::vector<std::string_view> splitList(std::string_view value) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    if (comma == std::string_view::npos) comma = value.size();
    std::string_view item = base::trim(value.substr(start, comma - start));
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

base::Result<WgQuick> parseWgQuickWithLines(std::string_view text, std::string_view source,
                                            WgQuickLines* lines) {
  enum class Section { None, Interface, Peer };
  // Keys that configure what burrow does itself, or that would run commands.
  static constexpr std::string_view kRefused[] = {"Table",    "PreUp",      "PostUp", "PreDown",
                                                  "PostDown", "SaveConfig", "FwMark"};
  static constexpr std::string_view kInterfaceKeys[] = {"PrivateKey", "Address", "DNS", "MTU",
                                                        "ListenPort"};
  static constexpr std::string_view kPeerKeys[] = {"PublicKey", "PresharedKey", "Endpoint",
                                                   "AllowedIPs", "PersistentKeepalive"};
  // Keys that may be given once per section; Address, DNS and AllowedIPs add up.
  static constexpr std::string_view kMultiple[] = {"Address", "DNS", "AllowedIPs"};

  WgQuick out;
  Section section = Section::None;
  bool seen_interface = false;
  std::set<std::string_view> seen;  // canonical keys given in the current section
  int line_no = 0;

  auto finishPeer = [&]() -> base::Result<void> {
    if (section != Section::Peer) return {};
    const WireguardPeer& p = out.wireguard.peers.back();
    if (p.public_key.empty()) return failAt(source, p.line, "[Peer] has no PublicKey");
    return {};
  };

  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    line = base::trim(line.substr(0, line.find('#')));  // '#' starts a comment anywhere
    if (line.empty()) continue;

    if (line.front() == '[') {
      if (line.back() != ']') return failAt(source, line_no, "expected [Interface] or [Peer]");
      const std::string name = base::toLower(base::trim(line.substr(1, line.size() - 2)));
      RETURN_IF_ERROR(finishPeer());
      seen.clear();
      if (name == "interface") {
        if (seen_interface) {
          return failAt(source, line_no, "a second [Interface]; a wg-quick file has one");
        }
        seen_interface = true;
        section = Section::Interface;
        out.wireguard.line = line_no;
      } else if (name == "peer") {
        section = Section::Peer;
        out.wireguard.peers.push_back(WireguardPeer{});
        out.wireguard.peers.back().line = line_no;
        lines->endpoints.push_back(0);
      } else {
        return failAt(source, line_no, "unknown section (expected [Interface] or [Peer])");
      }
      continue;
    }

    // The line is not echoed: a pasted key on its own would land in the message.
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) return failAt(source, line_no, "expected Key = Value");
    const std::string_view raw_key = base::trim(line.substr(0, eq));
    const std::string_view value = base::trim(line.substr(eq + 1));
    bool letters = !raw_key.empty() && raw_key.size() <= 32;
    for (char c : raw_key) letters = letters && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
    if (!letters) return failAt(source, line_no, "expected Key = Value");

    // Keys are case-insensitive; messages use wg-quick's spelling.
    const std::string lower = base::toLower(raw_key);
    std::string_view key;
    for (std::string_view k : kRefused) {
      if (base::toLower(k) == lower) {
        return failAt(source, line_no, "burrow runs no wg-quick hooks: remove {}", k);
      }
    }
    const std::span<const std::string_view> known =
        section == Section::Peer ? std::span<const std::string_view>(kPeerKeys) : kInterfaceKeys;
    for (std::string_view k : known) {
      if (base::toLower(k) == lower) key = k;
    }
    if (section == Section::None) {
      return failAt(source, line_no, "'{}' comes before any [Interface] or [Peer] section",
                    raw_key);
    }
    if (key.empty()) {
      return failAt(source, line_no, "unknown key '{}' in [{}]", raw_key,
                    section == Section::Peer ? "Peer" : "Interface");
    }
    bool multiple = false;
    for (std::string_view k : kMultiple) multiple = multiple || k == key;
    if (!multiple && !seen.insert(key).second) {
      return failAt(source, line_no, "{} is set twice in this section", key);
    }

    WireguardSettings& wg = out.wireguard;
    if (key == "PrivateKey") {
      if (!isWireguardKey(value)) {
        return failAt(source, line_no,
                      "PrivateKey is not a WireGuard key (44 characters of base64); the value "
                      "is not shown");
      }
      wg.private_key = std::string(value);
      lines->private_key = line_no;
    } else if (key == "Address") {
      for (std::string_view item : splitList(value)) {
        auto cidr = normaliseCidr(item, HostBits::Keep);
        if (!cidr) return failAt(source, line_no, "Address: {}", cidr.error().message());
        wg.addresses.push_back(std::move(*cidr));
      }
    } else if (key == "DNS") {
      // wg-quick also takes search domains here; burrow has no use for them.
      for (std::string_view item : splitList(value)) {
        if (auto ip = normaliseIp(item)) out.dns.push_back(std::move(*ip));
      }
    } else if (key == "MTU") {
      std::optional<int> mtu = parseNumber(value, kMaxMtu);
      if (!mtu || *mtu < kMinMtu) {
        return failAt(source, line_no, "MTU must be a number from {} to {}, got '{}'", kMinMtu,
                      kMaxMtu, value);
      }
      wg.mtu = *mtu;
    } else if (key == "ListenPort") {
      std::optional<int> port = parseNumber(value, 65535);
      if (!port) {
        return failAt(source, line_no, "ListenPort must be a number from 0 to 65535, got '{}'",
                      value);
      }
      wg.listen_port = *port;
    } else if (key == "PublicKey") {
      if (!isWireguardKey(value)) {
        return failAt(source, line_no,
                      "PublicKey '{}' is not a WireGuard key (44 characters of base64)", value);
      }
      wg.peers.back().public_key = std::string(value);
    } else if (key == "PresharedKey") {
      return failAt(source, line_no,
                    "burrow takes no inline PresharedKey: remove it here and set "
                    "presharedKeyFile for this peer in the YAML file");
    } else if (key == "Endpoint") {
      auto ep = parseEndpoint(value);
      if (!ep) return failAt(source, line_no, "Endpoint: {}", ep.error().message());
      wg.peers.back().endpoint = std::move(ep->text);
      lines->endpoints.back() = line_no;
    } else if (key == "AllowedIPs") {
      for (std::string_view item : splitList(value)) {
        auto cidr = normaliseCidr(item, HostBits::Clear);
        if (!cidr) return failAt(source, line_no, "AllowedIPs: {}", cidr.error().message());
        wg.peers.back().allowed_ips.push_back(std::move(*cidr));
      }
    } else if (key == "PersistentKeepalive") {
      std::optional<int> secs = base::toLower(value) == "off" ? 0 : parseNumber(value, 65535);
      if (!secs) {
        return failAt(source, line_no,
                      "PersistentKeepalive must be off or a number from 0 to 65535, got '{}'",
                      value);
      }
      wg.peers.back().persistent_keepalive = *secs;
    }
  }
  RETURN_IF_ERROR(finishPeer());
  return out;
}

// ---- The YAML namespace file ----

using Entry = YamlEntry;
using Item = YamlItem;

// A place to blame in a message: a key of the YAML file or a line of the wg-quick file.
struct Where {
  std::string source;
  int line = 0;
  std::string key;
};

class NamespaceParser {
 public:
  NamespaceParser(std::string_view source, std::string_view name)
      : source_(source), name_(name), prefix_(fmt::format("namespaces.{}", name)) {}

  base::Result<NamespaceConfig> parse(const YAML::Node& root);
  // The mapping of `namespaces.NAME` (entry `e`), read and validated.
  base::Result<NamespaceConfig> parseBody(const Entry& e);

 private:
  template <class... Args>
  base::Unexpected fail(int line, fmt::format_string<Args...> f, Args&&... args) const {
    return base::invalid("{}:{}: {}", source_, line, fmt::format(f, std::forward<Args>(args)...));
  }
  template <class... Args>
  base::Unexpected failWhere(const Where& w, fmt::format_string<Args...> f, Args&&... args) const {
    return base::invalid("{}:{}: {}: {}", w.source, w.line, w.key,
                         fmt::format(f, std::forward<Args>(args)...));
  }

  // The line of `path`, or of the nearest enclosing key the file has.
  int lineFor(std::string path) const;
  void unknown(const Entry& e);
  base::Result<std::vector<Entry>> entries(const YAML::Node& map, const std::string& path);
  base::Result<std::vector<Entry>> mapping(const Entry& e);
  base::Result<std::optional<std::string>> text(const Entry& e);
  base::Result<std::optional<std::string>> filePath(const Entry& e);
  base::Result<std::optional<bool>> boolean(const Entry& e);
  base::Result<std::optional<int>> integer(const Entry& e, int min, int max);
  base::Result<std::vector<Item>> scalars(const Entry& e, bool single_ok);
  base::Result<std::vector<std::string>> cidrs(const Entry& e, HostBits host_bits);
  base::Result<std::vector<uint16_t>> ports(const Entry& e, bool unique);
  base::Result<std::string> oneOf(const Entry& e, std::initializer_list<std::string_view> allowed);

  base::Result<void> namespaceBody(const Entry& e);
  base::Result<void> wireguard(const Entry& e);
  base::Result<void> peers(const Entry& e);
  base::Result<void> dns(const Entry& e);
  base::Result<void> egress(const Entry& e);
  base::Result<void> ipv6(const Entry& e);
  base::Result<void> publishToHost(const Entry& e);
  base::Result<void> portMappings(const Entry& e);
  base::Result<void> openVPNPorts(const Entry& e);
  // The entries of each mapping in list `e` (vpn-confinement's lists of {port, protocol}).
  base::Result<std::vector<std::vector<Entry>>> mappingList(const Entry& e, std::string_view what);
  // protocol: tcp (the default), udp or both, as {tcp, udp}.
  base::Result<std::pair<bool, bool>> protocol(const Entry& e);
  base::Result<void> mergeConfigFile();
  base::Result<void> validate();

  std::string source_;
  std::string name_;
  std::string prefix_;  // "namespaces.NAME"
  NamespaceConfig cfg_;
  std::map<std::string, int> lines_;  // key path -> line, for every key the file has

  // What the walk saw but NamespaceConfig cannot tell apart from its defaults.
  bool has_wireguard_ = false;
  bool has_config_file_key_ = false;  // wireguardConfigFile was given
  std::string config_file_key_;       // its value
  std::optional<int> mtu_;
  std::optional<int> listen_port_;
  std::optional<std::string> egress_mode_;
  Where private_key_where_;            // where the inline private key came from
  std::vector<Where> peer_where_;      // per peer: its list item or [Peer] section
  std::vector<Where> endpoint_where_;  // per peer: its endpoint key or Endpoint line
};

int NamespaceParser::lineFor(std::string path) const {
  for (;;) {
    auto it = lines_.find(path);
    if (it != lines_.end()) return it->second;
    const size_t cut = path.find_last_of(".[");
    if (cut == std::string::npos) return cfg_.line > 0 ? cfg_.line : 1;
    path.resize(cut);
  }
}

void NamespaceParser::unknown(const Entry& e) {
  std::string w = fmt::format("{}:{}: unknown key '{}'", source_, e.line, e.path);
  LOG_WARN("{}", w);
  cfg_.warnings.push_back(std::move(w));
}

// yamlEntries(), with the line of every key kept for validate()'s messages.
base::Result<std::vector<Entry>> NamespaceParser::entries(const YAML::Node& map,
                                                          const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<Entry> out, yamlEntries(map, path, source_));
  for (const Entry& e : out) lines_.emplace(e.path, e.line);
  return out;
}

// `key:` with nothing after it reads as an empty mapping.
base::Result<std::vector<Entry>> NamespaceParser::mapping(const Entry& e) {
  if (e.value.IsNull()) return std::vector<Entry>();
  if (!e.value.IsMap()) {
    return fail(e.line, "{}: expected a mapping, got {}", e.path, kindName(e.value));
  }
  return entries(e.value, e.path);
}

// Null (`key:` with nothing after it) reads as unset.
base::Result<std::optional<std::string>> NamespaceParser::text(const Entry& e) {
  if (e.value.IsNull()) return std::optional<std::string>();
  if (!e.value.IsScalar()) {
    return fail(e.line, "{}: expected a string, got {}", e.path, kindName(e.value));
  }
  return std::optional<std::string>(e.value.Scalar());
}

base::Result<std::optional<std::string>> NamespaceParser::filePath(const Entry& e) {
  ASSIGN_OR_RETURN(std::optional<std::string> s, text(e));
  if (s && s->empty()) return fail(e.line, "{}: expected a file path, got an empty string", e.path);
  if (s && s->find('\0') != std::string::npos) {
    return fail(e.line, "{}: a file path cannot contain a NUL byte", e.path);
  }
  return s;
}

base::Result<std::optional<bool>> NamespaceParser::boolean(const Entry& e) {
  if (e.value.IsNull()) return std::optional<bool>();
  bool b = false;
  if (!e.value.IsScalar() || !YAML::convert<bool>::decode(e.value, b)) {
    return fail(e.line, "{}: expected true or false, got '{}'", e.path,
                e.value.IsScalar() ? e.value.Scalar() : kindName(e.value));
  }
  return std::optional<bool>(b);
}

base::Result<std::optional<int>> NamespaceParser::integer(const Entry& e, int min, int max) {
  if (e.value.IsNull()) return std::optional<int>();
  std::optional<int> v;
  if (e.value.IsScalar()) v = parseNumber(e.value.Scalar(), max);
  if (!v || *v < min) {
    return fail(e.line, "{}: expected a whole number from {} to {}, got '{}'", e.path, min, max,
                e.value.IsScalar() ? e.value.Scalar() : kindName(e.value));
  }
  return v;
}

base::Result<std::vector<Item>> NamespaceParser::scalars(const Entry& e, bool single_ok) {
  return yamlScalars(e, single_ok, source_);
}

base::Result<std::vector<std::string>> NamespaceParser::cidrs(const Entry& e, HostBits host_bits) {
  ASSIGN_OR_RETURN(std::vector<Item> items, scalars(e, host_bits == HostBits::Keep));
  std::vector<std::string> out;
  for (const Item& item : items) {
    auto cidr = normaliseCidr(item.text, host_bits);
    if (!cidr) return fail(item.line, "{}: {}", e.path, cidr.error().message());
    out.push_back(std::move(*cidr));
  }
  return out;
}

base::Result<std::vector<uint16_t>> NamespaceParser::ports(const Entry& e, bool unique) {
  ASSIGN_OR_RETURN(std::vector<Item> items, scalars(e, false));
  std::vector<uint16_t> out;
  std::set<int> seen;
  for (const Item& item : items) {
    std::optional<int> port = parseNumber(item.text, 65535);
    if (!port || *port == 0) {
      return fail(item.line, "{}: expected a port from 1 to 65535, got '{}'", e.path, item.text);
    }
    if (unique && !seen.insert(*port).second) {
      return fail(item.line, "{}: port {} appears twice", e.path, *port);
    }
    out.push_back(static_cast<uint16_t>(*port));
  }
  return out;
}

base::Result<std::string> NamespaceParser::oneOf(const Entry& e,
                                                 std::initializer_list<std::string_view> allowed) {
  ASSIGN_OR_RETURN(std::optional<std::string> s, text(e));
  for (std::string_view a : allowed) {
    if (s && *s == a) return *s;
  }
  return fail(e.line, "{}: expected {}, got '{}'", e.path, fmt::join(allowed, " or "),
              s.value_or(""));
}

base::Result<void> NamespaceParser::wireguard(const Entry& e) {
  has_wireguard_ = true;
  WireguardSettings& wg = cfg_.wireguard;
  wg.line = e.line;
  ASSIGN_OR_RETURN(std::vector<Entry> items, mapping(e));
  for (const Entry& item : items) {
    const std::string& k = item.key;
    if (k == "interface") {
      ASSIGN_OR_RETURN(std::optional<std::string> name, text(item));
      if (auto ok = checkInterfaceName(name.value_or("")); !ok) {
        return fail(item.line, "{}: {}", item.path, ok.error().message());
      }
      wg.interface = *name;
    } else if (k == "privateKeyFile") {
      ASSIGN_OR_RETURN(std::optional<std::string> file, filePath(item));
      wg.private_key_file = file.value_or("");
    } else if (k == "privateKey") {
      ASSIGN_OR_RETURN(std::optional<std::string> key, text(item));
      if (key && !isWireguardKey(*key)) {
        return fail(item.line,
                    "{}: not a WireGuard key (44 characters of base64); the value is not shown",
                    item.path);
      }
      wg.private_key = key.value_or("");
      private_key_where_ = Where{source_, item.line, item.path};
    } else if (k == "address") {
      ASSIGN_OR_RETURN(wg.addresses, cidrs(item, HostBits::Keep));
    } else if (k == "mtu") {
      ASSIGN_OR_RETURN(mtu_, integer(item, kMinMtu, kMaxMtu));
    } else if (k == "listenPort") {
      ASSIGN_OR_RETURN(listen_port_, integer(item, 0, 65535));
    } else if (k == "allowHostnameEndpoints") {
      ASSIGN_OR_RETURN(std::optional<bool> allow, boolean(item));
      wg.allow_hostname_endpoints = allow.value_or(false);
    } else if (k == "endpointRefresh") {
      ASSIGN_OR_RETURN(std::optional<int> secs, integer(item, 1, 86400));
      wg.endpoint_refresh = secs.value_or(wg.endpoint_refresh);
    } else if (k == "configFile") {
      ASSIGN_OR_RETURN(std::optional<std::string> file, filePath(item));
      wg.config_file = file.value_or("");
    } else if (k == "peers") {
      RETURN_IF_ERROR(peers(item));
    } else {
      unknown(item);
    }
  }
  return {};
}

base::Result<void> NamespaceParser::peers(const Entry& e) {
  if (e.value.IsNull()) return {};
  if (!e.value.IsSequence()) {
    return fail(e.line, "{}: expected a list of peers, got {}", e.path, kindName(e.value));
  }
  std::vector<WireguardPeer>& out = cfg_.wireguard.peers;
  for (const YAML::Node& n : e.value) {
    const std::string ppath = fmt::format("{}[{}]", e.path, out.size());
    const int line = lineOf(n);
    if (!n.IsMap()) {
      return fail(line, "{}: expected a mapping with publicKey:, got {}", ppath, kindName(n));
    }
    lines_.emplace(ppath, line);
    WireguardPeer peer;
    peer.line = line;
    Where endpoint_where{source_, line, ppath + ".endpoint"};
    ASSIGN_OR_RETURN(std::vector<Entry> items, entries(n, ppath));
    for (const Entry& item : items) {
      const std::string& k = item.key;
      if (k == "publicKey") {
        ASSIGN_OR_RETURN(std::optional<std::string> key, text(item));
        if (key && !isWireguardKey(*key)) {
          return fail(item.line, "{}: '{}' is not a WireGuard key (44 characters of base64)",
                      item.path, *key);
        }
        peer.public_key = key.value_or("");
      } else if (k == "presharedKeyFile") {
        ASSIGN_OR_RETURN(std::optional<std::string> file, filePath(item));
        peer.preshared_key_file = file.value_or("");
      } else if (k == "endpoint") {
        ASSIGN_OR_RETURN(std::optional<std::string> text, text(item));
        if (text) {
          auto ep = parseEndpoint(*text);
          if (!ep) return fail(item.line, "{}: {}", item.path, ep.error().message());
          peer.endpoint = std::move(ep->text);
        }
        endpoint_where.line = item.line;
      } else if (k == "allowedIPs") {
        ASSIGN_OR_RETURN(peer.allowed_ips, cidrs(item, HostBits::Clear));
      } else if (k == "persistentKeepalive") {
        ASSIGN_OR_RETURN(std::optional<int> secs, integer(item, 0, 65535));
        peer.persistent_keepalive = secs.value_or(0);
      } else {
        unknown(item);
      }
    }
    if (peer.public_key.empty()) {
      return fail(line, "{}.publicKey: missing; every peer needs its public key", ppath);
    }
    out.push_back(std::move(peer));
    peer_where_.push_back(Where{source_, line, ppath});
    endpoint_where_.push_back(std::move(endpoint_where));
  }
  return {};
}

base::Result<void> NamespaceParser::dns(const Entry& e) {
  ASSIGN_OR_RETURN(std::vector<Entry> items, mapping(e));
  for (const Entry& item : items) {
    const std::string& k = item.key;
    if (k == "mode") {
      ASSIGN_OR_RETURN(cfg_.dns_mode, oneOf(item, {"strict", "compat"}));
    } else if (k == "servers") {
      ASSIGN_OR_RETURN(std::vector<Item> servers, scalars(item, false));
      cfg_.dns_servers.clear();
      for (const Item& s : servers) {
        auto ip = normaliseIp(s.text);
        if (!ip) return fail(s.line, "{}: {}", item.path, ip.error().message());
        cfg_.dns_servers.push_back(std::move(*ip));
      }
    } else if (k == "allowHostResolverIPC") {
      ASSIGN_OR_RETURN(std::optional<bool> allow, boolean(item));
      cfg_.dns_allow_host_resolver_ipc = allow.value_or(false);
    } else {
      unknown(item);
    }
  }
  return {};
}

base::Result<void> NamespaceParser::egress(const Entry& e) {
  ASSIGN_OR_RETURN(std::vector<Entry> items, mapping(e));
  for (const Entry& item : items) {
    const std::string& k = item.key;
    if (k == "mode") {
      ASSIGN_OR_RETURN(egress_mode_, oneOf(item, {"allowAllTunnel", "allowList"}));
    } else if (k == "allowedCidrs") {
      ASSIGN_OR_RETURN(cfg_.egress_allowed_cidrs, cidrs(item, HostBits::Clear));
    } else if (k == "allowedPorts") {
      ASSIGN_OR_RETURN(cfg_.egress_allowed_ports, ports(item, false));
    } else {
      unknown(item);
    }
  }
  return {};
}

base::Result<void> NamespaceParser::ipv6(const Entry& e) {
  ASSIGN_OR_RETURN(std::vector<Entry> items, mapping(e));
  for (const Entry& item : items) {
    if (item.key == "mode") {
      ASSIGN_OR_RETURN(std::optional<std::string> mode, text(item));
      if (mode && *mode != "disable") {
        return fail(item.line, "{}: only 'disable' is supported, got '{}'", item.path, *mode);
      }
    } else {
      unknown(item);
    }
  }
  return {};
}

base::Result<void> NamespaceParser::publishToHost(const Entry& e) {
  ASSIGN_OR_RETURN(std::vector<Entry> items, mapping(e));
  for (const Entry& item : items) {
    if (item.key == "tcp") {
      ASSIGN_OR_RETURN(cfg_.publish_tcp, ports(item, true));
    } else if (item.key == "udp") {
      ASSIGN_OR_RETURN(cfg_.publish_udp, ports(item, true));
    } else if (item.key == "hostAddress") {
      ASSIGN_OR_RETURN(std::optional<std::string> addr, text(item));
      if (!addr) continue;
      std::optional<IpAddress> ip = parseIp(*addr);
      if (!ip || ip->family != AF_INET) {
        return fail(item.line, "{}: '{}' is not an IPv4 address", item.path, *addr);
      }
      // The link is the /30 around it: its network and broadcast addresses leave no peer.
      const uint8_t low = ip->bytes[3] & 3;
      if (low == 0 || low == 3) {
        return fail(item.line,
                    "{}: {} is the network or broadcast address of its /30; the host link "
                    "needs the /30's first or second address (.1 or .2 of four)",
                    item.path, *addr);
      }
      cfg_.publish_host_address = formatIp(*ip);
    } else {
      unknown(item);
    }
  }
  return {};
}

base::Result<std::vector<std::vector<Entry>>> NamespaceParser::mappingList(const Entry& e,
                                                                           std::string_view what) {
  std::vector<std::vector<Entry>> out;
  if (e.value.IsNull()) return out;
  if (!e.value.IsSequence()) {
    return fail(e.line, "{}: expected a list of {}, got {}", e.path, what, kindName(e.value));
  }
  for (const YAML::Node& n : e.value) {
    const std::string path = fmt::format("{}[{}]", e.path, out.size());
    if (!n.IsMap()) {
      return fail(lineOf(n), "{}: expected a mapping {}, got {}", path, what, kindName(n));
    }
    lines_.emplace(path, lineOf(n));
    ASSIGN_OR_RETURN(std::vector<Entry> items, entries(n, path));
    out.push_back(std::move(items));
  }
  return out;
}

base::Result<std::pair<bool, bool>> NamespaceParser::protocol(const Entry& e) {
  ASSIGN_OR_RETURN(std::string p, oneOf(e, {"tcp", "udp", "both"}));
  return std::pair{p != "udp", p != "tcp"};
}

base::Result<void> NamespaceParser::portMappings(const Entry& e) {
  ASSIGN_OR_RETURN(auto list, mappingList(e, "{from, to, protocol}"));
  std::set<std::pair<int, int>> seen;  // (from, 0 for tcp or 1 for udp)
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = fmt::format("{}[{}]", e.path, i);
    const int line = lineFor(path);
    NamespaceConfig::PortMapping m;
    std::optional<int> from, to;
    for (const Entry& item : list[i]) {
      if (item.key == "from") {
        ASSIGN_OR_RETURN(from, integer(item, 1, 65535));
      } else if (item.key == "to") {
        ASSIGN_OR_RETURN(to, integer(item, 1, 65535));
      } else if (item.key == "protocol") {
        ASSIGN_OR_RETURN(std::tie(m.tcp, m.udp), protocol(item));
      } else {
        unknown(item);
      }
    }
    if (!from || !to) {
      return fail(line,
                  "{}.{}: missing; a port mapping needs from (the host's port) and to (the "
                  "namespace's port)",
                  path, from ? "to" : "from");
    }
    m.from = static_cast<uint16_t>(*from);
    m.to = static_cast<uint16_t>(*to);
    for (int proto : {0, 1}) {
      if ((proto == 0 ? m.tcp : m.udp) && !seen.insert({m.from, proto}).second) {
        return fail(line, "{}: host port {}/{} is mapped twice", path, m.from,
                    proto == 0 ? "tcp" : "udp");
      }
    }
    cfg_.port_mappings.push_back(m);
  }
  return {};
}

base::Result<void> NamespaceParser::openVPNPorts(const Entry& e) {
  ASSIGN_OR_RETURN(auto list, mappingList(e, "{port, protocol}"));
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = fmt::format("{}[{}]", e.path, i);
    std::optional<int> port;
    bool tcp = true, udp = false;
    for (const Entry& item : list[i]) {
      if (item.key == "port") {
        ASSIGN_OR_RETURN(port, integer(item, 1, 65535));
      } else if (item.key == "protocol") {
        ASSIGN_OR_RETURN(std::tie(tcp, udp), protocol(item));
      } else {
        unknown(item);
      }
    }
    if (!port) return fail(lineFor(path), "{}.port: missing; name the port to open", path);
    if (tcp) cfg_.open_vpn_tcp.push_back(static_cast<uint16_t>(*port));
    if (udp) cfg_.open_vpn_udp.push_back(static_cast<uint16_t>(*port));
  }
  return {};
}

base::Result<void> NamespaceParser::namespaceBody(const Entry& e) {
  if (!e.value.IsMap()) {
    return fail(e.line, "{}: expected a mapping with wireguard:, got {}", e.path,
                kindName(e.value));
  }
  ASSIGN_OR_RETURN(std::vector<Entry> items, entries(e.value, e.path));
  for (const Entry& item : items) {
    const std::string& k = item.key;
    if (k == "securityProfile") {
      ASSIGN_OR_RETURN(cfg_.security_profile, oneOf(item, {"default", "highAssurance"}));
    } else if (k == "wireguard") {
      RETURN_IF_ERROR(wireguard(item));
    } else if (k == "dns") {
      RETURN_IF_ERROR(dns(item));
    } else if (k == "egress") {
      RETURN_IF_ERROR(egress(item));
    } else if (k == "ipv6") {
      RETURN_IF_ERROR(ipv6(item));
    } else if (k == "publishToHost") {
      RETURN_IF_ERROR(publishToHost(item));
    } else if (k == "wireguardConfigFile") {
      ASSIGN_OR_RETURN(std::optional<std::string> file, filePath(item));
      if (file) {
        has_config_file_key_ = true;
        config_file_key_ = *file;
      }
    } else if (k == "accessibleFrom") {
      ASSIGN_OR_RETURN(std::vector<std::string> all, cidrs(item, HostBits::Clear));
      // vpn-confinement's users list IPv6 subnets too; here they could reach nothing.
      for (std::string& c : all) {
        if (c.find(':') == std::string::npos) {
          cfg_.accessible_from.push_back(std::move(c));
          continue;
        }
        std::string w = fmt::format("{}:{}: {}: {} left out: IPv6 is off (ipv6.mode: disable)",
                                    source_, item.line, item.path, c);
        LOG_WARN("{}", w);
        cfg_.warnings.push_back(std::move(w));
      }
    } else if (k == "portMappings") {
      RETURN_IF_ERROR(portMappings(item));
    } else if (k == "openVPNPorts") {
      RETURN_IF_ERROR(openVPNPorts(item));
    } else {
      unknown(item);
    }
  }
  return {};
}

// Values the YAML file sets win; the wg-quick file fills what it left unset or empty.
base::Result<void> NamespaceParser::mergeConfigFile() {
  WireguardSettings& wg = cfg_.wireguard;
  const std::string key =
      prefix_ + (has_config_file_key_ ? ".wireguardConfigFile" : ".wireguard.configFile");
  const int line = lineFor(key);
  const std::string file = besideFile(source_, wg.config_file);
  auto text = base::readFile(file, kMaxConfigBytes);
  if (!text) return fail(line, "{}: cannot read it: {}", key, text.error().message());
  WgQuickLines at;
  ASSIGN_OR_RETURN(WgQuick quick, parseWgQuickWithLines(*text, file, &at));

  const std::string via = fmt::format(" (from {})", key);
  if (wg.private_key_file.empty() && wg.private_key.empty() &&
      !quick.wireguard.private_key.empty()) {
    wg.private_key = quick.wireguard.private_key;
    private_key_where_ = Where{file, at.private_key, "PrivateKey" + via};
  }
  if (wg.addresses.empty()) wg.addresses = quick.wireguard.addresses;
  if (!mtu_) mtu_ = quick.wireguard.mtu;
  if (!listen_port_) listen_port_ = quick.wireguard.listen_port;
  if (wg.peers.empty()) {
    wg.peers = quick.wireguard.peers;
    for (size_t i = 0; i < wg.peers.size(); ++i) {
      peer_where_.push_back(Where{file, wg.peers[i].line, "[Peer]" + via});
      endpoint_where_.push_back(Where{file, at.endpoints[i], "[Peer] Endpoint" + via});
    }
  }
  if (cfg_.dns_servers.empty()) cfg_.dns_servers = quick.dns;
  return {};
}

base::Result<void> NamespaceParser::validate() {
  WireguardSettings& wg = cfg_.wireguard;
  const bool high = cfg_.security_profile == "highAssurance";
  const std::string wgp = prefix_ + ".wireguard";
  if (has_config_file_key_) {
    if (!wg.config_file.empty()) {
      return fail(lineFor(prefix_ + ".wireguardConfigFile"),
                  "{}.wireguardConfigFile: {}.configFile is set too; keep one of them", prefix_,
                  wgp);
    }
    wg.config_file = config_file_key_;
  }
  if (!has_wireguard_ && !has_config_file_key_) {
    return fail(cfg_.line,
                "{}: missing; a namespace needs a WireGuard interface (or wireguardConfigFile)",
                wgp);
  }
  if (!wg.config_file.empty()) RETURN_IF_ERROR(mergeConfigFile());
  wg.mtu = mtu_.value_or(wg.mtu);
  wg.listen_port = listen_port_.value_or(wg.listen_port);

  if (wg.interface.empty() && has_config_file_key_) {
    // vpn-confinement's name for the link: the namespace's name and 0.
    wg.interface = name_ + "0";
    if (wg.interface.size() > kMaxInterfaceBytes) {
      return fail(lineFor(prefix_ + ".wireguardConfigFile"),
                  "{}.interface: missing, and {} (the namespace's name and 0) is longer than {} "
                  "bytes; name the WireGuard interface",
                  wgp, wg.interface, kMaxInterfaceBytes);
    }
  }
  if (wg.interface.empty()) {
    return fail(wg.line, "{}.interface: missing; name the WireGuard interface (at most {} bytes)",
                wgp, kMaxInterfaceBytes);
  }
  if (!wg.private_key_file.empty() && !wg.private_key.empty()) {
    return fail(lineFor(wgp + ".privateKey"), "{}: set privateKeyFile or privateKey, not both",
                wgp);
  }
  if (wg.private_key_file.empty() && wg.private_key.empty()) {
    return fail(wg.line,
                "{}.privateKeyFile: missing; set privateKeyFile (or privateKey, or a PrivateKey "
                "in configFile)",
                wgp);
  }
  if (high && !wg.private_key.empty()) {
    return failWhere(private_key_where_,
                     "highAssurance refuses an inline private key; use privateKeyFile");
  }
  if (wg.addresses.empty()) {
    return fail(lineFor(wgp + ".address"), "{}.address: missing; give at least one address", wgp);
  }
  if (wg.peers.empty()) {
    return fail(lineFor(wgp + ".peers"), "{}.peers: missing; give at least one peer", wgp);
  }
  std::set<std::string_view> keys;
  for (size_t i = 0; i < wg.peers.size(); ++i) {
    const WireguardPeer& p = wg.peers[i];
    const Where& w = endpoint_where_[i];
    if (!keys.insert(p.public_key).second) {
      return failWhere(peer_where_[i], "peer {} appears twice", p.public_key);
    }
    if (p.endpoint.empty()) continue;
    auto ep = parseEndpoint(p.endpoint);
    CHECK(ep);  // every endpoint was parsed once on the way in
    if (ep->is_hostname && high) {
      return failWhere(w,
                       "highAssurance refuses host name endpoint '{}' (even with "
                       "allowHostnameEndpoints); use an IP address",
                       p.endpoint);
    }
    if (ep->is_hostname && !wg.allow_hostname_endpoints) {
      return failWhere(w,
                       "'{}' is a hostname; set wireguard.allowHostnameEndpoints: true to allow "
                       "it",
                       p.endpoint);
    }
  }

  const std::string dnsp = prefix_ + ".dns";
  if (high && cfg_.dns_mode == "compat") {
    return fail(lineFor(dnsp + ".mode"), "{}.mode: highAssurance refuses compat; use strict", dnsp);
  }
  if (high && cfg_.dns_allow_host_resolver_ipc) {
    return fail(lineFor(dnsp + ".allowHostResolverIPC"),
                "{}.allowHostResolverIPC: highAssurance refuses the host resolver; set it to "
                "false",
                dnsp);
  }
  if (cfg_.dns_mode == "strict" && cfg_.dns_servers.empty()) {
    return fail(lineFor(dnsp + ".servers"),
                "{}.servers: strict mode needs at least one DNS server (or a DNS= line in "
                "wireguard.configFile)",
                dnsp);
  }

  if (!cfg_.accessible_from.empty() && cfg_.publish_tcp.empty() && cfg_.publish_udp.empty() &&
      cfg_.port_mappings.empty()) {
    return fail(lineFor(prefix_ + ".accessibleFrom"),
                "{}.accessibleFrom: nothing to reach; it lets clients use portMappings and "
                "publishToHost ports, and there are none",
                prefix_);
  }
  if (!cfg_.publish_host_address.empty() && cfg_.publish_tcp.empty() && cfg_.publish_udp.empty() &&
      cfg_.port_mappings.empty()) {
    return fail(lineFor(prefix_ + ".publishToHost.hostAddress"),
                "{}.publishToHost.hostAddress: there is no host link: nothing is published (tcp, "
                "udp or portMappings)",
                prefix_);
  }

  const std::string egp = prefix_ + ".egress";
  cfg_.egress_mode = egress_mode_.value_or(high ? "allowList" : "allowAllTunnel");
  if (high && cfg_.egress_allowed_cidrs.empty()) {
    return fail(lineFor(egp + ".allowedCidrs"),
                "{}.allowedCidrs: highAssurance needs at least one allowed CIDR", egp);
  }
  if (cfg_.egress_mode == "allowList" && cfg_.egress_allowed_cidrs.empty()) {
    return fail(lineFor(egp + ".allowedCidrs"),
                "{}.allowedCidrs: mode allowList needs at least one CIDR (or use mode "
                "allowAllTunnel)",
                egp);
  }
  return {};
}

base::Result<NamespaceConfig> NamespaceParser::parseBody(const Entry& e) {
  cfg_.name = name_;
  cfg_.source = source_;
  cfg_.line = e.line;
  RETURN_IF_ERROR(namespaceBody(e));
  RETURN_IF_ERROR(validate());
  return std::move(cfg_);
}

base::Result<NamespaceConfig> NamespaceParser::parse(const YAML::Node& root) {
  if (root.IsNull()) return fail(1, "expected a mapping with namespaces:, the file is empty");
  if (!root.IsMap()) {
    return fail(lineOf(root), "expected a mapping with namespaces:, got {}", kindName(root));
  }
  ASSIGN_OR_RETURN(std::vector<Entry> top, entries(root, ""));
  const Entry* namespaces = nullptr;
  for (const Entry& e : top) {
    if (e.key == "namespaces") {
      namespaces = &e;
    } else {
      unknown(e);
    }
  }
  if (namespaces == nullptr) return fail(1, "no namespaces: mapping (expected {})", prefix_);
  ASSIGN_OR_RETURN(std::vector<Entry> list, mapping(*namespaces));
  const Entry* mine = nullptr;
  std::vector<std::string> names;
  for (const Entry& e : list) {
    if (e.key == name_) mine = &e;
    names.push_back(e.key);
  }
  if (mine == nullptr) {
    return fail(namespaces->line, "no namespace '{}' under namespaces:; the file defines {}", name_,
                names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", ")));
  }
  return parseBody(*mine);
}

}  // namespace

base::Result<NamespaceConfig> parseNamespaceNode(const YAML::Node& body, int line,
                                                 std::string_view source, std::string_view name) {
  const std::string path = fmt::format("namespaces.{}", name);
  if (auto ok = checkNamespaceName(name); !ok) {
    return base::invalid("{}:{}: {}: {}", source, line, path, ok.error().message());
  }
  return NamespaceParser(source, name).parseBody(Entry{std::string(name), path, body, line});
}

base::Result<WgQuick> parseWgQuick(std::string_view text, std::string_view source) {
  WgQuickLines lines;
  return parseWgQuickWithLines(text, source, &lines);
}

base::Result<NamespaceConfig> parseNamespace(std::string_view yaml, std::string_view source,
                                             std::string_view name) {
  if (auto ok = checkNamespaceName(name); !ok) {
    return base::invalid("{}: {}", source, ok.error().message());
  }
  return parseYaml(yaml, source, [&](const YAML::Node& root) {
    return NamespaceParser(source, name).parse(root);
  });
}

base::Result<NamespaceConfig> loadNamespace(const std::string& path, std::string_view name) {
  ASSIGN_OR_RETURN(std::string text, base::readFile(path, kMaxConfigBytes));
  return parseNamespace(text, path, name);
}

}  // namespace config
