// Private to src/sandbox: the prefixes systemd allows on path and command values, read the
// same way by the directive parser, `exec` and `audit`.
#pragma once

#include <string_view>

namespace sandbox {

// "-/path" may be missing; "+/path" is taken as is (see systemd.exec(5), ReadWritePaths=).
struct PathValue {
  std::string_view path;
  bool optional = false;
};
inline PathValue pathValue(std::string_view w) {
  PathValue v;
  while (!w.empty() && (w.front() == '-' || w.front() == '+')) {
    if (w.front() == '-') v.optional = true;
    w.remove_prefix(1);
  }
  v.path = w;
  return v;
}

// An ExecStart= line without its "-", "@", ":", "+", "!" prefixes; `argv0` is set when "@"
// says that the word after the program is its argv[0] (see systemd.service(5)).
inline std::string_view execLine(std::string_view line, bool* argv0 = nullptr) {
  while (!line.empty() && std::string_view("-@:+!").find(line.front()) != std::string_view::npos) {
    if (line.front() == '@' && argv0) *argv0 = true;
    line.remove_prefix(1);
  }
  return line;
}

// What the prefixes of a command line ask for (see systemd.service(5), "Command lines").
struct CommandPrefixes {
  bool ignore_failure = false;   // "-": a non-zero exit counts as success
  bool argv0 = false;            // "@": the second word is argv[0]
  bool full_privileges = false;  // "+": no sandbox at all, as root
  bool keep_ids = false;         // "!" or "!!": the sandbox without the User=/Group= change
};
inline CommandPrefixes commandPrefixes(std::string_view line) {
  CommandPrefixes p;
  while (!line.empty() && std::string_view("-@:+!").find(line.front()) != std::string_view::npos) {
    if (line.front() == '-') p.ignore_failure = true;
    if (line.front() == '@') p.argv0 = true;
    if (line.front() == '+') p.full_privileges = true;
    if (line.front() == '!') p.keep_ids = true;
    line.remove_prefix(1);
  }
  return p;
}

// Strips a leading "~" (a deny list) and says whether there was one.
inline bool stripInvert(std::string_view& v) {
  if (v.empty() || v.front() != '~') return false;
  v.remove_prefix(1);
  return true;
}

}  // namespace sandbox
