// Private to src/config: what the YAML parsers (config.yml, namespace files, burrow.yaml) share.
// Include it only from files that use yaml-cpp already. Apart from parseYaml(), the functions
// below do not catch yaml-cpp's exceptions: call them inside parseYaml().
#pragma once

#include <yaml-cpp/yaml.h>

#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "config/config.h"

namespace config {

// The node's line, 1-based; 0 when yaml-cpp has none.
inline int lineOf(const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  return m.is_null() ? 0 : m.line + 1;
}

// "a list", "a mapping", "nothing" or "a scalar", for messages.
inline const char* kindName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "a scalar";
  }
}

// One `key: value` of a mapping. `path` is the full key path for messages:
// "namespaces.vpn.dns.mode", "services.photos.network".
struct YamlEntry {
  std::string key;
  std::string path;
  YAML::Node value;
  int line = 0;
};

// One scalar of a list, with its own line.
struct YamlItem {
  std::string text;
  int line = 0;
};

// The entries of mapping `map` at key path `path` ("" at the top), in file order. Refuses what
// yaml-cpp lets through silently: non-scalar keys, and duplicate keys (the second would
// otherwise shadow the first without a word). Errors name `source` and the line.
base::Result<std::vector<YamlEntry>> yamlEntries(const YAML::Node& map, const std::string& path,
                                                 std::string_view source);

// The scalars of list `e`; with `single_ok`, one scalar stands for a list of one. Null (`key:`
// with nothing after it) is an empty list.
base::Result<std::vector<YamlItem>> yamlScalars(const YamlEntry& e, bool single_ok,
                                                std::string_view source);

// Runs `parse` on the document `yaml`, turning yaml-cpp's exceptions into errors that name
// `source` and, for syntax errors, the line.
template <class Parse>
auto parseYaml(std::string_view yaml, std::string_view source, Parse&& parse)
    -> decltype(parse(YAML::Node())) {
  try {
    return parse(YAML::Load(std::string(yaml)));
  } catch (const YAML::Exception& e) {
    const int line = e.mark.is_null() ? 0 : e.mark.line + 1;
    return base::invalid("{}:{}: invalid YAML: {}", source, line, e.msg);
  } catch (const std::exception& e) {
    // yaml-cpp may throw plain std:: exceptions (bad_alloc, out_of_range) on odd input.
    return base::invalid("{}:0: cannot read the file: {}", source, e.what());
  }
}

// burrow.yaml's `namespaces.NAME`: the mapping `body`, its key at `line` of `source`, read and
// validated exactly as `burrow netns` reads a namespace file's (netns_config.cc).
base::Result<NamespaceConfig> parseNamespaceNode(const YAML::Node& body, int line,
                                                 std::string_view source, std::string_view name);

// burrow.yaml's `routes:` (`list`, its key at `line` of `source`): config.yml's ingress rules
// (tunnel_config.cc), called "route #N" in messages, whose service URLs may name one of
// `service_names` as "http://[NAME]:PORT". Unknown keys are appended to `warnings`.
// `middlewares` are the file's declared middlewares, which routes may name.
base::Result<std::vector<IngressRule>> parseRoutes(
    const YAML::Node& list, int line, std::string_view source,
    const std::vector<std::string>& service_names,
    const std::vector<std::shared_ptr<const Middleware>>& middlewares,
    std::vector<std::string>* warnings);

// The top-level `middlewares:` map (`map`, its key at `line`), in file order
// (middleware_config.cc). Options burrow ignores are appended to `warnings`.
base::Result<std::vector<std::shared_ptr<const Middleware>>> parseMiddlewares(
    const YAML::Node& map, int line, std::string_view source, std::vector<std::string>* warnings);

// A rule's `middlewares:` list `e`: each name (or NAME@file) must be in `declared`. Fills
// r->middlewares and r->run. `where` prefixes messages ("route #2: ").
base::Result<void> routeMiddlewares(const YamlEntry& e, std::string_view where,
                                    std::string_view source,
                                    const std::vector<std::shared_ptr<const Middleware>>& declared,
                                    IngressRule* r);

// access: {required: true, portal: URL}: a forwardAuth to the portal's Authelia endpoint that
// runs before the rule's own middlewares, with Authelia's identity headers passed on.
std::shared_ptr<const Middleware> portalCheck(const Service& portal);

}  // namespace config
