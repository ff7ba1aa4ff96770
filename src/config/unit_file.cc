// systemd unit-file syntax: sections, assignments, comments and line continuations, as
// systemd.syntax(7) describes them. What a value means is up to whoever reads the directive.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

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

std::string_view dirName(std::string_view path) {
  auto slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// The names whose drop-in directories apply to unit `name`, least specific first (see
// systemd.unit(5)): "service.d", the dash prefixes "a-.service.d", the template, the name.
std::vector<std::string> dropInNames(const std::string& name) {
  std::vector<std::string> out;
  auto dot = name.rfind('.');
  if (dot == std::string::npos) return {name};
  const std::string type = name.substr(dot + 1), stem = name.substr(0, dot);
  out.push_back(type);
  for (size_t dash = stem.find('-'); dash != std::string::npos && dash + 1 < stem.size();
       dash = stem.find('-', dash + 1))
    out.push_back(stem.substr(0, dash + 1) + "." + type);
  auto at = stem.find('@');
  if (at != std::string::npos && at + 1 < stem.size())
    out.push_back(stem.substr(0, at + 1) + "." + type);
  out.push_back(name);
  return out;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// A unit file linked to /dev/null or empty is masked (see systemctl(1), mask).
std::optional<std::string> maskedBy(const std::string& path) {
  std::error_code ec;
  auto target = std::filesystem::canonical(path, ec);
  if (!ec && target == "/dev/null") return std::string(" (linked to /dev/null)");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
    return std::string(" (empty file)");
  return std::nullopt;
}

}  // namespace

std::vector<std::string> unitSearchPath() {
  const std::vector<std::string> defaults = {"/etc/systemd/system", "/run/systemd/system",
                                             "/usr/local/lib/systemd/system", "/lib/systemd/system",
                                             "/usr/lib/systemd/system"};
  const char* env = std::getenv("SYSTEMD_UNIT_PATH");
  if (!env || !*env) return defaults;
  std::vector<std::string> out;
  std::string_view rest = env;
  for (;;) {
    auto colon = rest.find(':');
    std::string_view dir = rest.substr(0, colon);
    if (colon == std::string_view::npos) {
      if (dir.empty())
        out.insert(out.end(), defaults.begin(), defaults.end());
      else
        out.emplace_back(dir);
      break;
    }
    if (!dir.empty()) out.emplace_back(dir);
    rest.remove_prefix(colon + 1);
  }
  return out;
}

base::Result<UnitFile> loadUnit(std::string_view name_or_path,
                                const std::vector<std::string>& search_path) {
  std::vector<std::string> dirs;
  std::string path;
  const std::string name(baseName(name_or_path));
  if (name_or_path.find('/') != std::string_view::npos) {
    path = std::string(name_or_path);
    dirs.emplace_back(dirName(path));
    dirs.insert(dirs.end(), search_path.begin(), search_path.end());
  } else {
    dirs = search_path;
    std::vector<std::string> candidates = {name};
    auto at = name.find('@'), dot = name.rfind('.');
    if (at != std::string::npos && dot != std::string::npos && at + 1 < dot)
      candidates.push_back(name.substr(0, at + 1) + name.substr(dot));
    for (const auto& candidate : candidates) {
      for (const auto& d : dirs)
        if (exists(d + "/" + candidate)) {
          path = d + "/" + candidate;
          break;
        }
      if (!path.empty()) break;
    }
    if (path.empty()) {
      std::string where;
      for (const auto& d : dirs) where += (where.empty() ? "" : ", ") + d;
      return base::makeError(std::errc::no_such_file_or_directory, "{}: no such unit in {}", name,
                             where);
    }
  }
  if (auto why = maskedBy(path))
    return base::makeError(std::errc::operation_not_permitted, "{}: masked{}", name, *why);
  ASSIGN_OR_RETURN(UnitFile unit, loadUnitFile(path));
  // An instance keeps its own name when read from its template's file.
  unit.name = name;
  std::vector<std::string> names = dropInNames(name);
  std::error_code ec;
  auto target = std::filesystem::canonical(path, ec);
  if (!ec && target.filename() != baseName(path)) {
    unit.name = target.filename();  // an alias: systemd names the unit after its file
    for (auto& n : dropInNames(unit.name))
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }

  std::map<std::string, std::string> dropins;  // file name -> path; the first directory wins
  for (const auto& d : dirs)
    for (const auto& n : names) {
      const std::filesystem::path dir = d + "/" + n + ".d";
      for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        std::string file = entry.path().filename();
        if (!file.ends_with(".conf")) continue;
        dropins.emplace(file, entry.path().string());
      }
    }
  for (const auto& [file, dropin_path] : dropins) {
    if (maskedBy(dropin_path)) continue;  // a drop-in linked to /dev/null is switched off
    ASSIGN_OR_RETURN(UnitFile more, loadUnitFile(dropin_path));
    for (auto& s : more.sections) {
      auto it = std::find_if(unit.sections.begin(), unit.sections.end(),
                             [&](const UnitSection& have) { return have.name == s.name; });
      if (it == unit.sections.end())
        unit.sections.push_back(std::move(s));
      else
        for (auto& e : s.entries) it->entries.push_back(std::move(e));
    }
  }
  return unit;
}

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
        {std::string(key), std::string(base::trim(full.substr(eq + 1))), at, unit.source});
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
