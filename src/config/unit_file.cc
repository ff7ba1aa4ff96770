// systemd unit-file syntax: sections, assignments, comments and line continuations, as
// systemd.syntax(7) describes them. What a value means is up to whoever reads the directive.
#include <cctype>
#include <string>
#include <string_view>

#include "base/base.h"
#include "config/config.h"

namespace config {
namespace {

constexpr size_t kMaxUnitBytes = 1 << 20;  // unit files are small; refuse anything else

bool isComment(std::string_view line) {
  return !line.empty() && (line.front() == '#' || line.front() == ';');
}

std::string_view baseName(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

const UnitSection* UnitFile::section(std::string_view wanted) const {
  for (const auto& s : sections)
    if (s.name == wanted) return &s;
  return nullptr;
}

base::Result<UnitFile> parseUnitFile(std::string_view text, std::string_view source) {
  UnitFile unit;
  unit.source = std::string(source);
  unit.name = std::string(baseName(source));
  if (text.size() > kMaxUnitBytes)
    return base::invalid("{}: larger than {} bytes, not a unit file", source, kMaxUnitBytes);
  if (text.find('\0') != std::string_view::npos)
    return base::invalid("{}: contains a NUL byte, not a unit file", source);

  int lineno = 0;
  size_t pos = 0;
  std::string pending;  // an assignment continued with a trailing backslash
  int pending_line = 0;
  auto finishAssignment = [&](std::string_view full, int at) -> base::Result<void> {
    auto eq = full.find('=');
    if (eq == std::string_view::npos)
      return base::invalid("{}:{}: expected Key=Value, got '{}'", source, at, full.substr(0, 80));
    std::string_view key = base::trim(full.substr(0, eq));
    if (key.empty()) return base::invalid("{}:{}: assignment without a key", source, at);
    for (char c : key)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
        return base::invalid("{}:{}: '{}' is not a valid key", source, at, key.substr(0, 80));
    if (unit.sections.empty())
      return base::invalid("{}:{}: '{}' comes before any [Section] header", source, at, key);
    unit.sections.back().entries.push_back(
        {std::string(key), std::string(base::trim(full.substr(eq + 1))), at});
    return {};
  };

  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view raw = text.substr(pos, nl - pos);
    bool last = nl == text.size();
    pos = nl + 1;
    ++lineno;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    std::string_view line = base::trim(raw);

    if (pending_line) {
      // Comment lines inside a continuation are skipped, as systemd does.
      if (isComment(line)) {
        if (last) RETURN_IF_ERROR(finishAssignment(pending, pending_line));
        if (last) break;
        continue;
      }
      if (!line.empty() && line.back() == '\\') {
        pending += ' ';
        pending += line.substr(0, line.size() - 1);
        if (last) RETURN_IF_ERROR(finishAssignment(pending, pending_line));
        if (last) break;
        continue;
      }
      pending += ' ';
      pending += line;
      RETURN_IF_ERROR(finishAssignment(pending, pending_line));
      pending.clear();
      pending_line = 0;
      if (last) break;
      continue;
    }

    if (line.empty() || isComment(line)) {
      if (last) break;
      continue;
    }
    if (line.front() == '[') {
      if (line.back() != ']' || line.size() < 3)
        return base::invalid("{}:{}: bad section header '{}'", source, lineno, line.substr(0, 80));
      std::string_view name = line.substr(1, line.size() - 2);
      if (name.find_first_of("[]") != std::string_view::npos)
        return base::invalid("{}:{}: bad section header '{}'", source, lineno, line.substr(0, 80));
      unit.sections.push_back({std::string(name), lineno, {}});
    } else if (line.back() == '\\') {
      pending = std::string(line.substr(0, line.size() - 1));
      pending_line = lineno;
      if (last) RETURN_IF_ERROR(finishAssignment(pending, pending_line));
    } else {
      RETURN_IF_ERROR(finishAssignment(line, lineno));
    }
    if (last) break;
  }
  return unit;
}

base::Result<UnitFile> loadUnitFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, base::readFile(path, kMaxUnitBytes + 1));
  return parseUnitFile(text, path);
}

}  // namespace config
