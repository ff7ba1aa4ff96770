// burrow.yaml, the stack file: read with yaml-cpp as tunnel_config.cc reads config.yml.
//
// yaml-cpp's exceptions stay inside parseYaml()'s one try block; the walker only calls
// accessors that do not throw on well-formed nodes. `namespaces.NAME` is read by the code
// that reads `burrow netns` files and `routes:` by the code that reads config.yml's ingress
// list, so each key means the same thing wherever it is written. The walk reads the keys in
// this order: namespaces, then services (whose network may name a namespace), then routes
// (whose URLs may name a service); the checks that span services (references, `after`
// cycles, the pool's size) run once every service is read.
//
// Unknown keys are warnings (LOG_WARN once each, and Stack::warnings), with the nearest known
// key suggested; wrong types and bad values are errors naming the file, the line and the key.
#include <arpa/inet.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/base.h"
#include "config/config.h"
#include "config/rule.h"
#include "config/yaml_internal.h"

namespace config {
namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;  // the cap of the other config files
constexpr size_t kMaxServiceNameBytes = 32;
constexpr int kLinkPrefix = 30;  // each private service's link: a /30 of the pool

const std::vector<std::string_view> kTopKeys = {"tunnel",   "network", "namespaces",
                                                "services", "routes",  "middlewares"};
const std::vector<std::string_view> kTunnelKeys = {"tokenFile", "login",           "name",
                                                   "accessLog", "accessLogFormat", "metrics"};
const std::vector<std::string_view> kNetworkKeys = {"pool"};
const std::vector<std::string_view> kServiceKeys = {"unit",    "exec",     "sandbox",  "network",
                                                    "users",   "binds",    "connects", "after",
                                                    "bindsTo", "ephemeral"};

using Entry = YamlEntry;
using Item = YamlItem;

// A service's references to other services, with their lines, checked once all are read.
struct References {
  std::vector<Item> connects, after, binds_to;
  Entry network;  // for vpn:NAME
};

// The end of a message about `name`, which is none of `known` (called `what`): the nearest one
// as "; did you mean 'x'?", else the list as " (services: a, b)".
std::string hint(std::string_view name, const std::vector<std::string_view>& known,
                 std::string_view what) {
  if (std::string near = nearestKey(name, known); !near.empty()) {
    return fmt::format("; did you mean '{}'?", near);
  }
  return fmt::format(" ({}: {})", what,
                     known.empty() ? "none" : fmt::format("{}", fmt::join(known, ", ")));
}

class StackParser {
 public:
  explicit StackParser(std::string_view source) : source_(source) {
    const size_t slash = source_.rfind('/');
    dir_ = slash == std::string::npos ? "." : source_.substr(0, slash);
    if (dir_.empty()) dir_ = "/";
  }

  base::Result<Stack> parse(const YAML::Node& root);

 private:
  template <class... Args>
  base::Unexpected fail(int line, fmt::format_string<Args...> f, Args&&... args) const {
    return base::invalid("{}:{}: {}", source_, line, fmt::format(f, std::forward<Args>(args)...));
  }

  void unknown(const Entry& e, const std::vector<std::string_view>& known);
  base::Result<std::vector<Entry>> entries(const YAML::Node& map, const std::string& path);
  base::Result<std::vector<Entry>> mapping(const Entry& e);
  base::Result<std::string> text(const Entry& e);
  base::Result<std::vector<Item>> scalars(const Entry& e, bool single_ok);
  // A path of the file, relative ones taken from the file's directory.
  std::string resolve(std::string_view path) const;

  base::Result<void> tunnel(const Entry& e);
  base::Result<void> network(const Entry& e);
  base::Result<void> namespaces(const Entry& e);
  base::Result<void> services(const Entry& e);
  base::Result<StackService> service(const Entry& e, References* refs);
  base::Result<void> unit(const Entry& e, StackService* s);
  base::Result<void> sandbox(const Entry& e, StackService* s);
  base::Result<StackNetwork> networkMode(const Entry& e, std::string* vpn);
  base::Result<StackBind> bind(const Item& item, const std::string& path);
  // Every name in `items` is another service of the file.
  base::Result<std::vector<std::string>> serviceNames(const std::vector<Item>& items,
                                                      const StackService& from,
                                                      std::string_view key);
  base::Result<void> references();
  base::Result<void> afterCycles();
  base::Result<void> poolSize();

  std::string source_;
  std::string dir_;
  Stack stack_;
  int pool_prefix_ = 16;            // network.pool's prefix length
  int pool_line_ = 0;               // network.pool's line, 0 when the default applies
  int services_line_ = 1;           // services:'s line
  std::vector<References> refs_;    // per service of stack_.services
  std::vector<std::string> names_;  // the services' names, in file order
};

void StackParser::unknown(const Entry& e, const std::vector<std::string_view>& known) {
  std::string w = fmt::format("{}:{}: unknown key '{}' ignored", source_, e.line, e.path);
  if (std::string near = nearestKey(e.key, known); !near.empty()) {
    w += fmt::format("; did you mean '{}'?", near);
  }
  LOG_WARN("{}", w);
  stack_.warnings.push_back(std::move(w));
}

base::Result<std::vector<Entry>> StackParser::entries(const YAML::Node& map,
                                                      const std::string& path) {
  return yamlEntries(map, path, source_);
}

// `key:` with nothing after it reads as an empty mapping.
base::Result<std::vector<Entry>> StackParser::mapping(const Entry& e) {
  if (e.value.IsNull()) return std::vector<Entry>();
  if (!e.value.IsMap()) {
    return fail(e.line, "{}: expected a mapping, got {}", e.path, kindName(e.value));
  }
  return entries(e.value, e.path);
}

base::Result<std::string> StackParser::text(const Entry& e) {
  if (!e.value.IsScalar() || e.value.Scalar().empty()) {
    return fail(e.line, "{}: expected a value, got {}", e.path,
                e.value.IsScalar() ? "an empty string" : kindName(e.value));
  }
  if (e.value.Scalar().find('\0') != std::string::npos) {
    return fail(e.line, "{}: contains a NUL byte", e.path);
  }
  return e.value.Scalar();
}

base::Result<std::vector<Item>> StackParser::scalars(const Entry& e, bool single_ok) {
  return yamlScalars(e, single_ok, source_);
}

std::string StackParser::resolve(std::string_view path) const {
  if (path.starts_with('/')) return std::string(path);
  return dir_ == "/" ? fmt::format("/{}", path) : fmt::format("{}/{}", dir_, path);
}

base::Result<void> StackParser::tunnel(const Entry& e) {
  ASSIGN_OR_RETURN(std::vector<Entry> items, mapping(e));
  for (const Entry& item : items) {
    if (item.key == "tokenFile") {
      ASSIGN_OR_RETURN(std::string file, text(item));
      stack_.token_file = resolve(file);
    } else if (item.key == "login") {
      ASSIGN_OR_RETURN(std::string file, text(item));
      stack_.login_file = resolve(file);
    } else if (item.key == "name") {
      ASSIGN_OR_RETURN(stack_.tunnel_name, text(item));
      const std::string& n = stack_.tunnel_name;
      if (n.empty() || n.size() > 64 || !std::all_of(n.begin(), n.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
          }))
        return fail(item.line, "{}: '{}' is not a tunnel name (1 to 64 of A-Z a-z 0-9 . _ -)",
                    item.path, n);
    } else if (item.key == "accessLog") {
      ASSIGN_OR_RETURN(std::string file, text(item));
      stack_.access_log = resolve(file);
      const std::string dir = stack_.access_log.substr(0, stack_.access_log.rfind('/'));
      struct stat st {};
      if (::stat(dir.empty() ? "/" : dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return fail(item.line, "{}: the directory {} does not exist; create it or fix the path",
                    item.path, dir);
    } else if (item.key == "accessLogFormat") {
      ASSIGN_OR_RETURN(stack_.access_log_format, text(item));
      if (stack_.access_log_format != "json" && stack_.access_log_format != "combined")
        return fail(item.line, "{}: '{}' is not a format: json or combined", item.path,
                    stack_.access_log_format);
    } else if (item.key == "metrics") {
      ASSIGN_OR_RETURN(stack_.metrics, text(item));
      if (auto ok = checkMetricsAddress(stack_.metrics); !ok)
        return fail(item.line, "{}: {}", item.path, ok.error().message());
    } else {
      unknown(item, kTunnelKeys);
    }
  }
  if (!stack_.access_log_format.empty() && stack_.access_log.empty())
    return fail(e.line, "{}.accessLogFormat needs {}.accessLog", e.path, e.path);
  if (!stack_.login_file.empty() && !stack_.token_file.empty())
    return fail(e.line,
                "{}: give tokenFile (a tunnel's token) or login (a login token, with "
                "name), not both",
                e.path);
  if (stack_.login_file.empty() != stack_.tunnel_name.empty())
    return fail(e.line,
                "{}: login and name go together (the login makes tunnel NAME on its "
                "edge)",
                e.path);
  return {};
}

// network.pool: an IPv4 CIDR with no host bits; its size is checked once services are read.
base::Result<void> StackParser::network(const Entry& e) {
  ASSIGN_OR_RETURN(std::vector<Entry> items, mapping(e));
  for (const Entry& item : items) {
    if (item.key != "pool") {
      unknown(item, kNetworkKeys);
      continue;
    }
    ASSIGN_OR_RETURN(std::string pool, text(item));
    const size_t slash = pool.find('/');
    const std::string addr = pool.substr(0, slash);
    const std::string bits = slash == std::string::npos ? "" : pool.substr(slash + 1);
    in_addr a{};
    const bool digits = !bits.empty() && bits.size() <= 2 &&
                        bits.find_first_not_of("0123456789") == std::string::npos;
    const int prefix = digits ? std::atoi(bits.c_str()) : -1;
    if (::inet_pton(AF_INET, addr.c_str(), &a) != 1 || prefix < 0 || prefix > 32) {
      return fail(item.line, "{}: '{}' is not an IPv4 CIDR (ADDRESS/PREFIX, e.g. 10.77.0.0/16)",
                  item.path, pool);
    }
    const uint32_t host = ntohl(a.s_addr);
    const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
    if ((host & ~mask) != 0) {
      const in_addr net{htonl(host & mask)};
      char text[INET_ADDRSTRLEN] = {};
      ::inet_ntop(AF_INET, &net, text, sizeof text);
      return fail(item.line, "{}: '{}' has host bits set; did you mean {}/{}?", item.path, pool,
                  text, prefix);
    }
    stack_.pool = pool;
    pool_prefix_ = prefix;
    pool_line_ = item.line;
  }
  return {};
}

base::Result<void> StackParser::namespaces(const Entry& e) {
  ASSIGN_OR_RETURN(std::vector<Entry> items, mapping(e));
  for (const Entry& item : items) {
    ASSIGN_OR_RETURN(NamespaceConfig ns,
                     parseNamespaceNode(item.value, item.line, source_, item.key));
    for (std::string& w : ns.warnings) stack_.warnings.push_back(std::move(w));
    ns.warnings.clear();
    stack_.namespaces.push_back(std::move(ns));
  }
  return {};
}

// The unit file is read as `burrow exec` reads one named by path, with the drop-ins of its own
// directory only: a stack's unit is a file of the stack, not a unit of the host.
base::Result<void> StackParser::unit(const Entry& e, StackService* s) {
  ASSIGN_OR_RETURN(std::string file, text(e));
  auto unit = loadUnit(resolve(file), {});
  if (!unit) return fail(e.line, "{}: {}", e.path, unit.error().message());
  const UnitSection* section = unit->section("Service");
  const bool has_exec =
      section != nullptr && std::any_of(section->entries.begin(), section->entries.end(),
                                        [](const UnitEntry& u) { return u.key == "ExecStart"; });
  if (!has_exec) {
    return fail(e.line, "{}: {} has no ExecStart= in a [Service] section; nothing to run", e.path,
                unit->source);
  }
  s->unit = std::move(*unit);
  return {};
}

// sandbox: {Directive: value} or {Directive: [value, value]} for a directive that repeats.
base::Result<void> StackParser::sandbox(const Entry& e, StackService* s) {
  ASSIGN_OR_RETURN(std::vector<Entry> items, mapping(e));
  for (const Entry& item : items) {
    const bool name_ok = std::all_of(item.key.begin(), item.key.end(), [](char c) {
      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    });
    if (!name_ok) {
      return fail(item.line, "{}: '{}' is not a [Service] directive name (e.g. ProtectSystem)",
                  e.path, item.key);
    }
    ASSIGN_OR_RETURN(std::vector<Item> values, scalars(item, /*single_ok=*/true));
    for (const Item& v : values) {
      s->sandbox.push_back(UnitEntry{item.key, v.text, v.line, source_});
    }
  }
  return {};
}

base::Result<StackNetwork> StackParser::networkMode(const Entry& e, std::string* vpn) {
  ASSIGN_OR_RETURN(std::string mode, text(e));
  if (mode == "private") return StackNetwork::Private;
  if (mode == "host") return StackNetwork::Host;
  if (mode == "none") return StackNetwork::None;
  if (mode.starts_with("vpn:") && mode.size() > 4) {
    *vpn = mode.substr(4);
    return StackNetwork::Vpn;
  }
  return fail(e.line, "{}: expected private, host, none or vpn:NAME, got '{}'", e.path, mode);
}

// "SRC:DST[:ro]", as docker's and systemd-nspawn's --bind write it.
base::Result<StackBind> StackParser::bind(const Item& item, const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t colon; (colon = item.text.find(':', start)) != std::string::npos; start = colon + 1) {
    parts.push_back(item.text.substr(start, colon - start));
  }
  parts.push_back(item.text.substr(start));
  const bool shape_ok = (parts.size() == 2 || (parts.size() == 3 && parts[2] == "ro")) &&
                        !parts[0].empty() && item.text.find('\0') == std::string::npos;
  if (!shape_ok) {
    return fail(item.line, "{}: '{}' is not SRC:DST or SRC:DST:ro", path, item.text);
  }
  if (!parts[1].starts_with('/')) {
    return fail(item.line, "{}: '{}': the target '{}' must be an absolute path", path, item.text,
                parts[1]);
  }
  StackBind b{resolve(parts[0]), parts[1], parts.size() == 3, item.line};
  struct stat st {};
  if (::stat(b.source.c_str(), &st) != 0) {
    return fail(item.line, "{}: the source {} does not exist; create it or fix the path", path,
                b.source);
  }
  return b;
}

base::Result<StackService> StackParser::service(const Entry& e, References* refs) {
  StackService s;
  s.name = e.key;
  s.line = e.line;
  bool name_ok = !e.key.empty() && e.key.size() <= kMaxServiceNameBytes && e.key[0] != '-';
  for (char c : e.key) {
    name_ok = name_ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '_');
  }
  if (!name_ok) {
    return fail(e.line,
                "{}: service name '{}' is invalid: use 1 to {} characters of a-z A-Z 0-9 _ -, "
                "not starting with '-'",
                e.path, e.key, kMaxServiceNameBytes);
  }
  if (e.key == "connector" || e.key == "dashboard")
    return fail(e.line,
                "{}: service name '{}' is the stack's own (its {} has that name in burrow ps and "
                "burrow logs): pick another",
                e.path, e.key, e.key == "connector" ? "connector" : "dashboard");
  if (!e.value.IsMap()) {
    return fail(e.line, "{}: expected a mapping with unit: or exec:, got {}", e.path,
                kindName(e.value));
  }
  ASSIGN_OR_RETURN(std::vector<Entry> items, entries(e.value, e.path));
  const Entry* unit_entry = nullptr;
  const Entry* exec_entry = nullptr;
  for (const Entry& item : items) {
    const std::string& k = item.key;
    if (k == "unit") {
      unit_entry = &item;
      RETURN_IF_ERROR(unit(item, &s));
    } else if (k == "exec") {
      exec_entry = &item;
      ASSIGN_OR_RETURN(std::vector<Item> argv, scalars(item, /*single_ok=*/false));
      if (argv.empty()) {
        return fail(item.line, "{}: expected the command and its arguments, got an empty list",
                    item.path);
      }
      for (Item& a : argv) s.exec.push_back(std::move(a.text));
    } else if (k == "sandbox") {
      RETURN_IF_ERROR(sandbox(item, &s));
    } else if (k == "network") {
      ASSIGN_OR_RETURN(s.network, networkMode(item, &s.vpn));
      refs->network = item;
    } else if (k == "users") {
      ASSIGN_OR_RETURN(std::string users, text(item));
      if (users != "pick" && users != "none") {
        return fail(item.line, "{}: expected pick or none, got '{}'", item.path, users);
      }
      s.pick_users = users == "pick";
    } else if (k == "binds") {
      ASSIGN_OR_RETURN(std::vector<Item> binds, scalars(item, /*single_ok=*/false));
      for (const Item& b : binds) {
        ASSIGN_OR_RETURN(StackBind parsed, bind(b, item.path));
        s.binds.push_back(std::move(parsed));
      }
    } else if (k == "connects") {
      ASSIGN_OR_RETURN(refs->connects, scalars(item, /*single_ok=*/true));
    } else if (k == "after") {
      ASSIGN_OR_RETURN(refs->after, scalars(item, /*single_ok=*/true));
    } else if (k == "bindsTo") {
      ASSIGN_OR_RETURN(refs->binds_to, scalars(item, /*single_ok=*/true));
    } else if (k == "ephemeral") {
      if (!item.value.IsScalar() || !YAML::convert<bool>::decode(item.value, s.ephemeral)) {
        return fail(item.line, "{}: expected true or false, got '{}'", item.path,
                    item.value.IsScalar() ? item.value.Scalar() : kindName(item.value));
      }
    } else {
      unknown(item, kServiceKeys);
    }
  }
  if (unit_entry != nullptr && exec_entry != nullptr) {
    return fail(exec_entry->line,
                "{}: unit: is set too; give the service one of unit: or exec:", exec_entry->path);
  }
  if (unit_entry == nullptr && exec_entry == nullptr) {
    return fail(e.line, "{}: nothing to run; give it unit: (a unit file) or exec: (a command)",
                e.path);
  }
  return s;
}

base::Result<void> StackParser::services(const Entry& e) {
  services_line_ = e.line;
  ASSIGN_OR_RETURN(std::vector<Entry> items, mapping(e));
  for (const Entry& item : items) names_.push_back(item.key);
  for (const Entry& item : items) {
    References refs;
    ASSIGN_OR_RETURN(StackService s, service(item, &refs));
    stack_.services.push_back(std::move(s));
    refs_.push_back(std::move(refs));
  }
  return {};
}

base::Result<std::vector<std::string>> StackParser::serviceNames(const std::vector<Item>& items,
                                                                 const StackService& from,
                                                                 std::string_view key) {
  std::vector<std::string> out;
  for (const Item& item : items) {
    const std::string path = fmt::format("services.{}.{}", from.name, key);
    if (item.text == from.name) {
      return fail(item.line, "{}: '{}' names the service itself", path, item.text);
    }
    if (std::find(names_.begin(), names_.end(), item.text) == names_.end()) {
      return fail(item.line, "{}: no service '{}' under services:{}", path, item.text,
                  hint(item.text, {names_.begin(), names_.end()}, "services"));
    }
    out.push_back(item.text);
  }
  return out;
}

base::Result<void> StackParser::references() {
  std::vector<std::string_view> namespaces;
  for (const NamespaceConfig& ns : stack_.namespaces) namespaces.push_back(ns.name);
  for (size_t i = 0; i < stack_.services.size(); ++i) {
    StackService& s = stack_.services[i];
    const References& r = refs_[i];
    ASSIGN_OR_RETURN(s.connects, serviceNames(r.connects, s, "connects"));
    ASSIGN_OR_RETURN(s.after, serviceNames(r.after, s, "after"));
    ASSIGN_OR_RETURN(s.binds_to, serviceNames(r.binds_to, s, "bindsTo"));
    if (s.network == StackNetwork::Vpn &&
        std::find(namespaces.begin(), namespaces.end(), s.vpn) == namespaces.end()) {
      return fail(r.network.line, "{}: no namespace '{}' under namespaces:{}", r.network.path,
                  s.vpn, hint(s.vpn, namespaces, "namespaces"));
    }
  }
  return {};
}

// A depth-first walk over `after` (with its own stack: a chain of services may be as long as
// the file allows). The first edge back to a service on the current path closes a cycle,
// reported at that edge's line as "a -> b -> a".
base::Result<void> StackParser::afterCycles() {
  const size_t n = stack_.services.size();
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < n; ++i) index[stack_.services[i].name] = i;
  enum class Mark { New, OnPath, Done };
  std::vector<Mark> mark(n, Mark::New);
  for (size_t root = 0; root < n; ++root) {
    if (mark[root] != Mark::New) continue;
    std::vector<std::pair<size_t, size_t>> path = {{root, 0}};  // {service, next edge}
    mark[root] = Mark::OnPath;
    while (!path.empty()) {
      auto& [i, next] = path.back();
      if (next == refs_[i].after.size()) {
        mark[i] = Mark::Done;
        path.pop_back();
        continue;
      }
      const Item& edge = refs_[i].after[next++];
      const size_t j = index.at(edge.text);
      if (mark[j] == Mark::OnPath) {
        auto it =
            std::find_if(path.begin(), path.end(), [j](const auto& p) { return p.first == j; });
        std::string cycle;
        for (; it != path.end(); ++it) cycle += stack_.services[it->first].name + " -> ";
        cycle += stack_.services[j].name;
        return fail(edge.line, "services.{}.after: the services wait for each other: {}",
                    stack_.services[i].name, cycle);
      }
      if (mark[j] == Mark::New) {
        mark[j] = Mark::OnPath;
        path.emplace_back(j, 0);
      }
    }
  }
  return {};
}

// Each private service takes a /30 of the pool.
base::Result<void> StackParser::poolSize() {
  const size_t links = pool_prefix_ > kLinkPrefix ? 0 : size_t{1} << (kLinkPrefix - pool_prefix_);
  const size_t wanted =
      std::count_if(stack_.services.begin(), stack_.services.end(),
                    [](const StackService& s) { return s.network == StackNetwork::Private; });
  if (wanted > links) {
    return fail(pool_line_ > 0 ? pool_line_ : services_line_,
                "network.pool: {} holds {} /{} links and {} services use network: private; give "
                "a larger pool (a shorter prefix)",
                stack_.pool, links, kLinkPrefix, wanted);
  }
  return {};
}

base::Result<Stack> StackParser::parse(const YAML::Node& root) {
  stack_.source = source_;
  if (root.IsNull()) return fail(1, "the file is empty; expected services: (and routes:)");
  if (!root.IsMap()) {
    return fail(lineOf(root), "expected a mapping of keys (services:, routes:, ...), not {}",
                kindName(root));
  }
  ASSIGN_OR_RETURN(std::vector<Entry> top, entries(root, ""));
  // Namespaces before services, services before routes, wherever they appear in the file.
  std::map<std::string, const Entry*> found;
  for (const Entry& e : top) {
    if (std::find(kTopKeys.begin(), kTopKeys.end(), e.key) != kTopKeys.end()) {
      found[e.key] = &e;
    } else {
      unknown(e, kTopKeys);
    }
  }
  if (found.contains("tunnel")) RETURN_IF_ERROR(tunnel(*found["tunnel"]));
  if (found.contains("network")) RETURN_IF_ERROR(network(*found["network"]));
  if (found.contains("namespaces")) RETURN_IF_ERROR(namespaces(*found["namespaces"]));
  if (found.contains("services")) RETURN_IF_ERROR(services(*found["services"]));
  RETURN_IF_ERROR(references());
  RETURN_IF_ERROR(afterCycles());
  RETURN_IF_ERROR(poolSize());
  if (found.contains("middlewares")) {
    const Entry& m = *found["middlewares"];
    ASSIGN_OR_RETURN(stack_.middlewares,
                     parseMiddlewares(m.value, m.line, source_, &stack_.warnings));
  }
  if (found.contains("routes") && !found["routes"]->value.IsNull()) {
    const Entry& routes = *found["routes"];
    ASSIGN_OR_RETURN(stack_.routes, parseRoutes(routes.value, routes.line, source_, names_,
                                                stack_.middlewares, &stack_.warnings));
  }
  return std::move(stack_);
}

}  // namespace

const StackService* Stack::service(std::string_view name) const {
  for (const StackService& s : services) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::vector<std::string> Stack::hostnames() const {
  std::vector<std::string> out;
  auto add = [&](const std::string& h) {
    std::string low = base::toLower(h);
    if (!low.empty() && low != "*" && std::find(out.begin(), out.end(), low) == out.end())
      out.push_back(std::move(low));
  };
  for (const IngressRule& r : routes) {
    add(r.hostname);
    if (r.matcher)
      for (const std::string& h : r.matcher->hosts()) add(h);
  }
  return out;
}

base::Result<Stack> parseStack(std::string_view yaml, std::string_view source) {
  return parseYaml(yaml, source,
                   [&](const YAML::Node& root) { return StackParser(source).parse(root); });
}

base::Result<Stack> loadStack(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, base::readFile(path, kMaxConfigBytes));
  return parseStack(text, path);
}

}  // namespace config
