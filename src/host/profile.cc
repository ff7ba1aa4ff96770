// Seed 001's host profile and where a root stands against it: each setting is read the way
// its owner merges its files (systemd's unit drop-ins, systemd-system.conf(5), sysctl.d(5)),
// the last assignment winning, so that a file of the user's own that overrides burrow's is
// seen as such.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/base.h"
#include "config/config.h"
#include "host/internal.h"
#include "supervise/supervise.h"

namespace host {
namespace internal {
namespace {

constexpr std::string_view kEmergencyWhy =
    "a headless server has no console: an emergency shell is an attack vector, not a recovery "
    "tool";

constexpr Item kProfile[] = {
    {"journald-umask", Kind::Journald, "UMask", "0077", "journal files readable by root only"},
    {"journald-private-network", Kind::Journald, "PrivateNetwork", "yes",
     "journald has no network: no sending logs away from inside it"},
    {"journald-protect-hostname", Kind::Journald, "ProtectHostname", "yes",
     "journald cannot change the hostname"},
    {"journald-protect-kernel-modules", Kind::Journald, "ProtectKernelModules", "yes",
     "journald cannot load kernel modules"},
    {"no-emergency-service", Kind::Mask, "emergency.service", "", kEmergencyWhy},
    {"no-emergency-target", Kind::Mask, "emergency.target", "", kEmergencyWhy},
    {"panic-reboot", Kind::Cmdline, "panic", "1",
     "a machine that fails to boot reboots and tries again instead of waiting at a console"},
    {"no-kexec", Kind::Sysctl, "kernel.kexec_load_disabled", "1",
     "the running kernel cannot be replaced without a reboot"},
    {"no-pre-sleep", Kind::Mask, "pre-sleep.service", "", "a server never sleeps"},
    {"no-prepare-kexec", Kind::Mask, "prepare-kexec.service", "", "kexec is disabled"},
    {"no-systemd-rfkill", Kind::Mask, "systemd-rfkill.service systemd-rfkill.socket", "",
     "no wireless hardware"},
    {"no-systemd-hibernate-clear", Kind::Mask, "systemd-hibernate-clear.service", "",
     "hibernation is disabled"},
    {"no-systemd-networkd-wait-online", Kind::Mask, "systemd-networkd-wait-online.service", "",
     "a static address: nothing to wait for at boot"},
    {"watchdog-runtime", Kind::Manager, "RuntimeWatchdogSec", "15s",
     "a hung machine is reset by the hardware watchdog after 15 s"},
    {"watchdog-reboot", Kind::Manager, "RebootWatchdogSec", "30s",
     "a reboot that hangs is forced after 30 s"},
    {"watchdog-kexec", Kind::Manager, "KExecWatchdogSec", "1min",
     "a kexec that hangs is reset after 1 min"},
};

constexpr std::string_view kUnitDirs[] = {"/etc/systemd/system", "/run/systemd/system",
                                          "/usr/local/lib/systemd/system",
                                          "/usr/lib/systemd/system", "/lib/systemd/system"};
constexpr std::string_view kSysctlDirs[] = {"/etc/sysctl.d", "/run/sysctl.d",
                                            "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d",
                                            "/lib/sysctl.d"};
constexpr std::string_view kManagerDirs[] = {
    "/etc/systemd/system.conf.d", "/run/systemd/system.conf.d",
    "/usr/local/lib/systemd/system.conf.d", "/usr/lib/systemd/system.conf.d",
    "/lib/systemd/system.conf.d"};

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != '\n') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// The *.conf files of `dirs` in the order they are read: by file name, a name in an earlier
// directory hiding the same name in a later one (systemd.unit(5), sysctl.d(5)).
std::vector<std::string> dropIns(const RootView& r, std::span<const std::string_view> dirs) {
  std::map<std::string, std::string> by_name;
  for (std::string_view d : dirs)
    for (const std::string& n : r.list(d))
      if (n.size() > 5 && n.ends_with(".conf"))
        by_name.emplace(n, fmt::format("{}/{}", d, n));  // keeps the first directory's
  std::vector<std::string> out;
  for (auto& [n, p] : by_name) out.push_back(p);
  return out;
}

struct Found {
  std::string value;
  std::string file;
};

// The last assignment of KEY (or one of `aliases`) in SECTION of the INI-style files, in order.
std::optional<Found> lastInSection(const RootView& r, const std::vector<std::string>& files,
                                   std::string_view section,
                                   std::initializer_list<std::string_view> keys) {
  std::optional<Found> out;
  for (const std::string& f : files) {
    auto text = r.read(f);
    if (!text) continue;
    auto unit = config::parseUnitFile(*text, r.path(f));
    if (!unit) continue;  // a file systemd would not parse either sets nothing here
    for (const auto& s : unit->sections) {
      if (s.name != section) continue;
      for (const auto& e : s.entries)
        if (std::find(keys.begin(), keys.end(), e.key) != keys.end()) {
          if (e.value.empty())
            out.reset();  // an empty assignment resets to the default
          else
            out = Found{e.value, f};
        }
    }
  }
  return out;
}

// The first directory of the unit path that has NAME, or "".
std::string unitFile(const RootView& r, std::string_view name) {
  for (std::string_view d : kUnitDirs) {
    std::string p = fmt::format("{}/{}", d, name);
    if (r.node(p) != RootView::Node::None) return p;
  }
  return "";
}

bool isMasked(const RootView& r, const std::string& p) {
  auto n = r.node(p);
  if (n == RootView::Node::Link) return r.linkTarget(p) == "/dev/null";
  if (n == RootView::Node::File) {
    auto t = r.read(p);
    return t && t->empty();
  }
  return false;
}

// The value as a number to compare, per key: octal for UMask, microseconds for times, 1/0 for
// booleans; nullopt when it does not parse.
std::optional<uint64_t> timespanUs(std::string_view text) {
  text = base::trim(text);
  if (text == "infinity") return UINT64_MAX;
  if (text == "off") return 0;
  uint64_t total = 0;
  size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    if (i == text.size()) break;
    size_t j = i;
    uint64_t n = 0;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') {
      n = n * 10 + static_cast<uint64_t>(text[j] - '0');
      if (n > 1'000'000'000'000) return std::nullopt;
      ++j;
    }
    if (j == i) return std::nullopt;
    size_t k = j;
    while (k < text.size() && text[k] == ' ') ++k;
    size_t u = k;
    while (u < text.size() && ((text[u] >= 'a' && text[u] <= 'z') || text[u] == 'M')) ++u;
    std::string_view unit = text.substr(k, u - k);
    uint64_t mult;
    if (unit.empty() || unit == "s" || unit == "sec" || unit == "second" || unit == "seconds")
      mult = 1'000'000;
    else if (unit == "us" || unit == "usec")
      mult = 1;
    else if (unit == "ms" || unit == "msec")
      mult = 1'000;
    else if (unit == "m" || unit == "min" || unit == "minute" || unit == "minutes")
      mult = 60'000'000;
    else if (unit == "h" || unit == "hr" || unit == "hour" || unit == "hours")
      mult = 3'600'000'000;
    else if (unit == "d" || unit == "day" || unit == "days")
      mult = 86'400'000'000;
    else
      return std::nullopt;
    total += n * mult;
    any = true;
    i = u;
  }
  if (!any) return std::nullopt;
  return total;
}

std::optional<uint64_t> comparable(std::string_view key, std::string_view value) {
  value = base::trim(value);
  if (key == "UMask") {
    if (value.empty() || value.size() > 4) return std::nullopt;
    uint64_t n = 0;
    for (char c : value) {
      if (c < '0' || c > '7') return std::nullopt;
      n = n * 8 + static_cast<uint64_t>(c - '0');
    }
    return n;
  }
  if (key.ends_with("Sec")) return timespanUs(value);
  std::string v = base::toLower(value);
  if (v == "yes" || v == "true" || v == "on" || v == "1") return 1;
  if (v == "no" || v == "false" || v == "off" || v == "0") return 0;
  return std::nullopt;
}

bool same(std::string_view key, std::string_view have, std::string_view want) {
  auto a = comparable(key, have);
  return a && a == comparable(key, want);
}

// sysctl.d(5): "key = value", '#' or ';' comments, '/' as a separator, a leading '-'.
std::optional<Found> lastSysctl(const RootView& r, std::string_view key) {
  std::vector<std::string> files = dropIns(r, kSysctlDirs);
  files.push_back("/etc/sysctl.conf");  // read last by sysctl --system
  std::optional<Found> out;
  for (const std::string& f : files) {
    auto text = r.read(f);
    if (!text) continue;
    std::string_view rest = *text;
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      std::string_view line = base::trim(rest.substr(0, nl));
      rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
      if (line.empty() || line[0] == '#' || line[0] == ';') continue;
      size_t eq = line.find('=');
      if (eq == std::string_view::npos) continue;
      std::string k(base::trim(line.substr(0, eq)));
      if (!k.empty() && k[0] == '-') k.erase(0, 1);
      std::replace(k.begin(), k.end(), '/', '.');
      if (k == key) out = Found{std::string(base::trim(line.substr(eq + 1))), f};
    }
  }
  return out;
}

// The kernel command line the root boots with, and the file it comes from: the running
// kernel's for "/", else /etc/kernel/cmdline (kernel-install), else /etc/default/grub with
// /etc/default/grub.d/*.cfg (GRUB_CMDLINE_LINUX and _DEFAULT).
struct Cmdline {
  std::string text;
  std::string file;    // where a person changes it ("" when no boot loader file was found)
  std::string how;     // the step that changes it
  bool found = false;  // a command line was read
};

std::string shellValue(std::string_view v, const std::map<std::string, std::string>& vars) {
  v = base::trim(v);
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
    v = v.substr(1, v.size() - 2);
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '$') {
      out += v[i];
      continue;
    }
    size_t j = i + 1;
    bool brace = j < v.size() && v[j] == '{';
    if (brace) ++j;
    size_t s = j;
    while (j < v.size() && (std::isalnum(static_cast<unsigned char>(v[j])) || v[j] == '_')) ++j;
    auto it = vars.find(std::string(v.substr(s, j - s)));
    if (it != vars.end()) out += it->second;
    if (brace && j < v.size() && v[j] == '}') ++j;
    i = j - 1;
  }
  return out;
}

Cmdline cmdlineOf(const RootView& r) {
  Cmdline c;
  if (auto k = r.read("/etc/kernel/cmdline")) {
    c = {std::string(base::trim(*k)), "/etc/kernel/cmdline",
         "add panic=1 to /etc/kernel/cmdline, then reinstall the kernel (kernel-install add)",
         true};
  } else if (auto g = r.read("/etc/default/grub")) {
    std::vector<std::string> files = {"/etc/default/grub"};
    for (const std::string& n : r.list("/etc/default/grub.d"))
      if (n.ends_with(".cfg")) files.push_back("/etc/default/grub.d/" + n);
    std::map<std::string, std::string> vars;
    for (const std::string& f : files) {
      auto text = r.read(f);
      if (!text) continue;
      std::string_view rest = *text;
      while (!rest.empty()) {
        size_t nl = rest.find('\n');
        std::string_view line = base::trim(rest.substr(0, nl));
        rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
        for (std::string_view var : {"GRUB_CMDLINE_LINUX_DEFAULT", "GRUB_CMDLINE_LINUX"}) {
          if (line.starts_with(var) && line.size() > var.size() && line[var.size()] == '=') {
            vars[std::string(var)] = shellValue(line.substr(var.size() + 1), vars);
            break;
          }
        }
      }
    }
    c = {vars["GRUB_CMDLINE_LINUX"] + " " + vars["GRUB_CMDLINE_LINUX_DEFAULT"], "/etc/default/grub",
         "add panic=1 to GRUB_CMDLINE_LINUX in /etc/default/grub, then run update-grub", true};
  } else {
    c.how = "add panic=1 to the kernel command line your boot loader passes";
  }
  if (r.running()) {
    // The running kernel's own command line is what counts now.
    auto p = r.read("/proc/cmdline");
    c.text = p ? std::string(base::trim(*p)) : "";
    c.found = p.has_value();
    if (c.file.empty()) c.file = "/proc/cmdline";
  }
  return c;
}

std::string settingText(const Item& it) {
  switch (it.kind) {
    case Kind::Journald:
      return fmt::format("{}={} for systemd-journald.service", it.key, it.value);
    case Kind::Mask: {
      auto units = words(it.key);
      std::string s = "masked:";
      for (auto u : units) s += fmt::format(" {}", u);
      return s;
    }
    case Kind::Sysctl:
      return fmt::format("sysctl {} = {}", it.key, it.value);
    case Kind::Manager:
      return fmt::format("{}={} for the service manager", it.key, it.value);
    case Kind::Cmdline:
      return fmt::format("{}={} on the kernel command line", it.key, it.value);
  }
  return "";
}

}  // namespace

std::span<const Item> profile() { return kProfile; }
std::span<const std::string_view> unitDirs() { return kUnitDirs; }

std::string_view ownFile(Kind k) {
  switch (k) {
    case Kind::Journald:
      return kJournaldDropIn;
    case Kind::Manager:
      return kManagerDropIn;
    case Kind::Sysctl:
      return kSysctlFile;
    default:
      return "";
  }
}

RootView::RootView(const std::string& root) : prefix_(root) {
  while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
}

RootView::Node RootView::node(std::string_view rel) const {
  if (auto it = planned_.find(std::string(rel)); it != planned_.end())
    return it->second ? Node::File : Node::Link;
  struct stat st {};
  if (::lstat(path(rel).c_str(), &st) != 0) return Node::None;
  if (S_ISREG(st.st_mode)) return Node::File;
  if (S_ISDIR(st.st_mode)) return Node::Dir;
  if (S_ISLNK(st.st_mode)) return Node::Link;
  return Node::Other;
}

std::string RootView::linkTarget(std::string_view rel) const {
  if (auto it = planned_.find(std::string(rel)); it != planned_.end())
    return it->second ? "" : "/dev/null";
  char buf[4096];
  ssize_t n = ::readlink(path(rel).c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

std::optional<std::string> RootView::read(std::string_view rel) const {
  if (auto it = planned_.find(std::string(rel)); it != planned_.end())
    return it->second ? it->second : std::optional<std::string>("");
  struct stat st {};
  if (::stat(path(rel).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  auto t = base::readFile(path(rel), 1 << 20);
  if (!t) return std::nullopt;
  return std::move(*t);
}

std::vector<std::string> RootView::list(std::string_view rel_dir) const {
  std::set<std::string> names;
  if (DIR* d = ::opendir(path(rel_dir).c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string_view n = e->d_name;
      if (n != "." && n != "..") names.emplace(n);
    }
    ::closedir(d);
  }
  std::string prefix = std::string(rel_dir) + "/";
  for (const auto& [p, content] : planned_)
    if (p.starts_with(prefix) && p.find('/', prefix.size()) == std::string::npos)
      names.insert(p.substr(prefix.size()));
  return {names.begin(), names.end()};
}

const char* initName(Init i) {
  switch (i) {
    case Init::Systemd:
      return "systemd";
    case Init::OpenRC:
      return "OpenRC";
    case Init::None:
      return "none";
  }
  return "none";
}

InitOf initOf(const RootView& r) {
  if (r.running()) {
    auto [init, why] = supervise::detectInit();
    switch (init) {
      case supervise::Init::Systemd:
        return {Init::Systemd, why};
      case supervise::Init::OpenRC:
        return {Init::OpenRC, why};
      default:
        return {Init::None, why};
    }
  }
  using N = RootView::Node;
  for (std::string_view m : {"/usr/lib/systemd/systemd", "/lib/systemd/systemd"})
    if (r.node(m) != N::None) return {Init::Systemd, fmt::format("{} is installed", m)};
  for (std::string_view o : {"/sbin/openrc-run", "/usr/sbin/openrc-run", "/sbin/openrc"})
    if (r.node(o) != N::None) return {Init::OpenRC, fmt::format("{} is installed", o)};
  for (std::string_view d : {"/usr/lib/systemd/system", "/lib/systemd/system"})
    if (r.node(d) == N::Dir) return {Init::Systemd, fmt::format("{} holds system units", d)};
  return {Init::None, "neither systemd nor OpenRC is installed"};
}

// A unit-file setting found (or not) in its files: ok, differs (with where), or missing.
static void judgeUnitSetting(const Item& it, const std::optional<Found>& f, Row& row) {
  if (!f) return;
  row.file = f->file;
  if (same(it.key, f->value, it.value)) {
    row.state = State::Ok;
  } else {
    row.state = State::Differs;
    row.detail = fmt::format("{}={} in {}", it.key, f->value, f->file);
  }
}

Row evaluate(const Item& it, const RootView& r, const InitOf& init_of) {
  Row row{std::string(it.id), settingText(it), std::string(it.why), State::Missing, "", ""};
  const Init init = init_of.init;
  auto notSystemd = [&](std::string_view openrc_note) {
    row.state = State::NotApplicable;
    row.detail = fmt::format("the init is {}, not systemd", initName(init));
    if (init == Init::OpenRC && !openrc_note.empty())
      row.detail += fmt::format("; {}", openrc_note);
  };
  switch (it.kind) {
    case Kind::Journald: {
      row.file = std::string(kJournaldDropIn);
      if (init != Init::Systemd) {
        notSystemd("OpenRC logs through a syslog daemon: nothing to set");
        break;
      }
      std::string unit = unitFile(r, "systemd-journald.service");
      if (unit.empty() || isMasked(r, unit)) {
        row.state = State::NotApplicable;
        row.detail = "no systemd-journald.service here";
        break;
      }
      std::vector<std::string> files = {unit};
      static constexpr std::string_view kDirs[] = {
          "/etc/systemd/system/systemd-journald.service.d",
          "/run/systemd/system/systemd-journald.service.d",
          "/usr/local/lib/systemd/system/systemd-journald.service.d",
          "/usr/lib/systemd/system/systemd-journald.service.d",
          "/lib/systemd/system/systemd-journald.service.d"};
      for (std::string& d : dropIns(r, kDirs)) files.push_back(std::move(d));
      auto f = lastInSection(r, files, "Service", {it.key});
      judgeUnitSetting(it, f, row);
      break;
    }
    case Kind::Mask: {
      auto units = words(it.key);
      row.file = fmt::format("{}/{}", kMaskDir, units.front());
      if (init != Init::Systemd) {
        notSystemd("");
        break;
      }
      std::vector<std::string> present;
      bool all_masked = true;
      for (auto u : units) {
        std::string p = unitFile(r, u);
        if (p.empty()) continue;
        present.emplace_back(u);
        if (!isMasked(r, p)) {
          if (all_masked) row.file = fmt::format("{}/{}", kMaskDir, u);
          all_masked = false;
        } else if (all_masked) {
          row.file = p;
        }
      }
      if (present.empty()) {
        row.state = State::NotApplicable;
        row.detail = "no such unit here";
      } else if (all_masked) {
        row.state = State::Ok;
      }
      break;
    }
    case Kind::Sysctl: {
      row.file = std::string(kSysctlFile);
      auto f = lastSysctl(r, it.key);
      std::optional<std::string> live;
      if (r.running()) {
        std::string proc = "/proc/sys/" + std::string(it.key);
        std::replace(proc.begin() + 10, proc.end(), '.', '/');
        if (auto v = r.read(proc)) {
          live = std::string(base::trim(*v));
        } else {
          row.state = State::NotApplicable;
          row.detail = fmt::format("this kernel has no such setting ({} does not exist)", proc);
          break;
        }
      }
      if (f) row.file = f->file;
      if (f && f->value != it.value) {
        row.state = State::Differs;
        row.detail = fmt::format("{} = {} in {}", it.key, f->value, f->file);
      } else if (f && live && *live != it.value) {
        row.state = State::Differs;
        row.detail =
            fmt::format("set for the next boot, {} now (sysctl --system applies it)", *live);
      } else if (f) {
        row.state = State::Ok;
      } else if (live && *live == it.value) {
        row.detail = fmt::format("{} now, but no file sets it at boot", *live);
      }
      break;
    }
    case Kind::Manager: {
      row.file = std::string(kManagerDropIn);
      if (init != Init::Systemd) {
        notSystemd(it.key == "RuntimeWatchdogSec"
                       ? "on OpenRC, busybox's watchdog service feeds /dev/watchdog: rc-update add "
                         "watchdog"
                       : "");
        break;
      }
      std::vector<std::string> files = {"/etc/systemd/system.conf"};
      for (std::string& d : dropIns(r, kManagerDirs)) files.push_back(std::move(d));
      std::initializer_list<std::string_view> reboot = {"RebootWatchdogSec", "ShutdownWatchdogSec"};
      std::initializer_list<std::string_view> one = {it.key};
      auto f = lastInSection(r, files, "Manager", it.key == "RebootWatchdogSec" ? reboot : one);
      judgeUnitSetting(it, f, row);
      break;
    }
    case Kind::Cmdline: {
      Cmdline c = cmdlineOf(r);
      row.file = c.file;
      if (!c.found) {
        row.state = State::NotApplicable;
        row.detail = "no boot loader configuration here (/etc/kernel/cmdline, /etc/default/grub)";
        break;
      }
      std::optional<std::string> v;
      std::string prefix = fmt::format("{}=", it.key);
      for (auto w : words(c.text))
        if (w.starts_with(prefix)) v = std::string(w.substr(prefix.size()));
      if (!v) break;
      if (*v == it.value) {
        row.state = State::Ok;
      } else {
        row.state = State::Differs;
        row.detail = fmt::format("{}={} in {}", it.key, *v, c.file);
      }
      break;
    }
  }
  return row;
}

std::vector<std::pair<std::string, std::string>> ownSettings(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = base::trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty() || line[0] == '#' || line[0] == '[') continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace_back(base::trim(line.substr(0, eq)), base::trim(line.substr(eq + 1)));
  }
  return out;
}

// The step for the kernel command line item, for harden.
std::string cmdlineStep(const RootView& r) { return cmdlineOf(r).how; }

}  // namespace internal

using namespace internal;

const char* stateName(State s) {
  switch (s) {
    case State::Ok:
      return "ok";
    case State::Missing:
      return "missing";
    case State::Differs:
      return "differs";
    case State::NotApplicable:
      return "not applicable";
  }
  return "?";
}

bool Audit::allOk() const {
  return std::all_of(rows.begin(), rows.end(), [](const Row& r) {
    return r.state == State::Ok || r.state == State::NotApplicable;
  });
}

std::vector<std::string> itemIds() {
  std::vector<std::string> out;
  for (const Item& it : profile()) out.emplace_back(it.id);
  return out;
}

base::Result<Audit> audit(const std::string& root) {
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0) return base::sysError("root {}", root);
  if (!S_ISDIR(st.st_mode)) return base::invalid("root {}: not a directory", root);
  RootView r(root);
  InitOf init = initOf(r);
  Audit a{root, initName(init.init), init.why, {}};
  for (const Item& it : profile()) a.rows.push_back(evaluate(it, r, init));
  return a;
}

std::string formatAudit(const Audit& a) {
  auto stateText = [](const Row& r) {
    std::string s = stateName(r.state);
    if (!r.detail.empty()) s += ": " + r.detail;
    return s;
  };
  size_t w_id = 4, w_set = 7, w_state = 5, w_file = 4;
  for (const Row& r : a.rows) {
    w_id = std::max(w_id, r.id.size());
    w_set = std::max(w_set, r.setting.size());
    w_state = std::max(w_state, stateText(r).size());
    w_file = std::max(w_file, r.file.size());
  }
  std::string out = fmt::format("{:<{}}  {:<{}}  {:<{}}  {:<{}}  {}\n", "ITEM", w_id, "SETTING",
                                w_set, "STATE", w_state, "FILE", w_file, "WHY");
  size_t ok = 0, applicable = 0;
  for (const Row& r : a.rows) {
    out += fmt::format("{:<{}}  {:<{}}  {:<{}}  {:<{}}  {}\n", r.id, w_id, r.setting, w_set,
                       stateText(r), w_state, r.file.empty() ? "-" : r.file, w_file, r.why);
    if (r.state != State::NotApplicable) ++applicable;
    if (r.state == State::Ok) ++ok;
  }
  std::string where = a.root == "/" ? "this host" : a.root;
  out += fmt::format("{} of {} applicable items ok on {} (init: {}, as {}){}\n", ok, applicable,
                     where, a.init, a.init_why,
                     a.allOk() ? "" : "; burrow host harden sets the rest, or says how");
  return out;
}

std::string formatAuditJson(const Audit& a) {
  nlohmann::json items = nlohmann::json::array();
  for (const Row& r : a.rows)
    items.push_back({{"id", r.id},
                     {"setting", r.setting},
                     {"why", r.why},
                     {"state", stateName(r.state)},
                     {"detail", r.detail},
                     {"file", r.file}});
  nlohmann::json j = {{"root", a.root},
                      {"init", a.init},
                      {"init_why", a.init_why},
                      {"ok", a.allOk()},
                      {"items", items}};
  // A file of the image may hold any bytes: invalid UTF-8 is replaced, not thrown.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace host
