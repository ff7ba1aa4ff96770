// Private to src/host: the profile's items, a root directory as read (with the files harden
// plans laid over it, so that a plan is judged by the same code as the root itself), and the
// evaluation of one item.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "host/host.h"

namespace host::internal {

enum class Kind {
  Journald,  // a [Service] directive of systemd-journald.service, set by burrow's drop-in
  Mask,      // units linked to /dev/null in /etc/systemd/system (key: unit names, space-separated)
  Sysctl,    // a sysctl.d(5) key, set by burrow's sysctl.d file
  Manager,   // a [Manager] time of systemd-system.conf(5), set by burrow's system.conf.d drop-in
  Cmdline,   // a kernel command-line parameter: never written, printed as a step
};

struct Item {
  std::string_view id;
  Kind kind;
  std::string_view key;
  std::string_view value;  // wanted; empty for Mask
  std::string_view why;
};
std::span<const Item> profile();

// The files burrow owns, inside the root.
inline constexpr std::string_view kJournaldDropIn =
    "/etc/systemd/system/systemd-journald.service.d/90-burrow-host.conf";
inline constexpr std::string_view kManagerDropIn = "/etc/systemd/system.conf.d/90-burrow-host.conf";
inline constexpr std::string_view kSysctlFile = "/etc/sysctl.d/90-burrow-host.conf";
inline constexpr std::string_view kMaskDir = "/etc/systemd/system";
inline constexpr std::string_view kRecord = "/var/lib/burrow/host-harden";
// The first line of every file burrow writes here.
inline constexpr std::string_view kMarker = "# Written by `burrow host harden`";

// The file of a file-backed kind (Journald, Sysctl, Manager).
std::string_view ownFile(Kind k);

// A root directory. Paths are absolute inside the root ("/etc/..."). Planned files and masks
// are seen as if they were on disk.
class RootView {
 public:
  explicit RootView(const std::string& root);
  bool running() const { return prefix_.empty(); }  // the root is "/"
  std::string path(std::string_view rel) const { return prefix_ + std::string(rel); }

  enum class Node { None, File, Dir, Link, Other };
  Node node(std::string_view rel) const;  // as lstat(2) sees it
  std::string linkTarget(std::string_view rel) const;
  // A file's text (through symlinks), or nullopt when there is none or it cannot be read.
  std::optional<std::string> read(std::string_view rel) const;
  // The names in a directory, sorted.
  std::vector<std::string> list(std::string_view rel_dir) const;

  void planFile(const std::string& rel, std::string text) { planned_[rel] = std::move(text); }
  void planMask(const std::string& rel) { planned_[rel] = std::nullopt; }

 private:
  std::string prefix_;                                         // "" for "/"
  std::map<std::string, std::optional<std::string>> planned_;  // nullopt: a mask
};

enum class Init { Systemd, OpenRC, None };
const char* initName(Init i);
struct InitOf {
  Init init = Init::None;
  std::string why;  // "PID 1 is systemd", "/sbin/openrc-run is installed"
};
// The running host's init for "/"; for an image, the one installed in it.
InitOf initOf(const RootView& r);

// Where the item stands in the root.
Row evaluate(const Item& item, const RootView& r, const InitOf& init);

// The step that sets the kernel command line item, for a person.
std::string cmdlineStep(const RootView& r);

// KEY=VALUE (or "key = value" for sysctl) lines of one of burrow's own files, in order.
std::vector<std::pair<std::string, std::string>> ownSettings(std::string_view text);

// The directories systemd reads system units from, highest priority first.
std::span<const std::string_view> unitDirs();

}  // namespace host::internal
