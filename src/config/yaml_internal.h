// Private to src/config: what the YAML parsers (config.yml, namespace files, burrow.yaml) share.
// Include it only from files that use yaml-cpp already. The parse functions below do not catch
// yaml-cpp's exceptions: call them inside the caller's one try block.
#pragma once

#include <yaml-cpp/yaml.h>

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

// burrow.yaml's `namespaces.NAME`: the mapping `body`, its key at `line` of `source`, read and
// validated exactly as `burrow netns` reads a namespace file's (netns_config.cc).
base::Result<NamespaceConfig> parseNamespaceNode(const YAML::Node& body, int line,
                                                 std::string_view source, std::string_view name);

// burrow.yaml's `routes:` (`list`, its key at `line` of `source`): config.yml's ingress rules
// (tunnel_config.cc), called "route #N" in messages, whose service URLs may name one of
// `service_names` as "http://[NAME]:PORT". Unknown keys are appended to `warnings`.
base::Result<std::vector<IngressRule>> parseRoutes(const YAML::Node& list, int line,
                                                   std::string_view source,
                                                   const std::vector<std::string>& service_names,
                                                   std::vector<std::string>* warnings);

}  // namespace config
