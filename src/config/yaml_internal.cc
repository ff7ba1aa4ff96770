// The mapping and list walkers that the YAML parsers share (yaml_internal.h).
#include "config/yaml_internal.h"

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"

namespace config {

base::Result<std::vector<YamlEntry>> yamlEntries(const YAML::Node& map, const std::string& path,
                                                 std::string_view source) {
  std::vector<YamlEntry> out;
  std::set<std::string> seen;
  const std::string where = path.empty() ? "" : path + ": ";
  for (auto it = map.begin(); it != map.end(); ++it) {
    // By value: the iterator hands out a temporary pair, so a reference would dangle.
    const YAML::Node key = it->first;
    if (!key.IsScalar()) {
      return base::invalid("{}:{}: {}keys must be plain names, not {}", source, lineOf(key), where,
                           kindName(key));
    }
    if (!seen.insert(key.Scalar()).second) {
      return base::invalid("{}:{}: {}key '{}' appears twice", source, lineOf(key), where,
                           key.Scalar());
    }
    out.push_back(YamlEntry{key.Scalar(), path.empty() ? key.Scalar() : path + "." + key.Scalar(),
                            it->second, lineOf(key)});
  }
  return out;
}

base::Result<std::vector<YamlItem>> yamlScalars(const YamlEntry& e, bool single_ok,
                                                std::string_view source) {
  std::vector<YamlItem> out;
  if (e.value.IsNull()) return out;
  if (single_ok && e.value.IsScalar()) {
    out.push_back(YamlItem{e.value.Scalar(), e.line});
    return out;
  }
  if (!e.value.IsSequence()) {
    return base::invalid("{}:{}: {}: expected a list, got {}", source, e.line, e.path,
                         kindName(e.value));
  }
  for (const YAML::Node& n : e.value) {
    if (!n.IsScalar()) {
      return base::invalid("{}:{}: {}: list items must be scalars, got {}", source, lineOf(n),
                           e.path, kindName(n));
    }
    out.push_back(YamlItem{n.Scalar(), lineOf(n)});
  }
  return out;
}

}  // namespace config
