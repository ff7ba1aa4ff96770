// Private to src/config: what the YAML parsers (config.yml, namespace files) share. Include it
// only from files that use yaml-cpp already.
#pragma once

#include <yaml-cpp/yaml.h>

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

}  // namespace config
