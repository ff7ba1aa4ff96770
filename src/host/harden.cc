// harden and undo: the plan (what is missing, as burrow's own files laid over the root and
// judged again by the audit's code, so that a file of the user's own that would still win is
// found before anything is written), the writes with their record, and undo by that record.
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include <fmt/format.h>

#include "base/base.h"
#include "base/undo.h"
#include "host/internal.h"
#include "supervise/supervise.h"

namespace host {
namespace internal {
namespace {

std::string sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return base::hexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
}

// ROOT/var/lib/burrow/host-harden: one line per thing burrow made, in the order it made them.
struct Entry {
  enum class Kind { Dir, File, Mask } kind;
  std::string path;  // inside the root
  std::string sha;   // File: the content's SHA-256 when written
};

std::string_view kindWord(Entry::Kind k) {
  return k == Entry::Kind::Dir ? "dir" : k == Entry::Kind::File ? "file" : "mask";
}

base::Result<std::vector<Entry>> readRecord(const RootView& r) {
  std::vector<Entry> out;
  auto text = r.read(kRecord);
  if (!text) return out;
  std::string_view rest = *text;
  int line_no = 0;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = base::trim(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.find(' ');
    std::string_view word = line.substr(0, sp);
    std::string_view args = sp == std::string_view::npos ? "" : base::trim(line.substr(sp + 1));
    size_t sp2 = args.find(' ');
    std::string path(args.substr(0, sp2));
    std::string sha(sp2 == std::string_view::npos ? "" : base::trim(args.substr(sp2 + 1)));
    bool ok =
        path.starts_with('/') && path.find("/../") == std::string::npos && !path.ends_with("/..");
    Entry e{Entry::Kind::Dir, path, sha};
    if (word == "dir" && sha.empty())
      e.kind = Entry::Kind::Dir;
    else if (word == "file" && sha.size() == 64)
      e.kind = Entry::Kind::File;
    else if (word == "mask" && sha.empty())
      e.kind = Entry::Kind::Mask;
    else
      ok = false;
    if (!ok)
      return base::invalid("{}:{}: expected `dir PATH`, `file PATH SHA256` or `mask PATH`",
                           r.path(kRecord), line_no);
    out.push_back(std::move(e));
  }
  return out;
}

std::string recordText(const std::vector<Entry>& entries) {
  std::string out = fmt::format(
      "{}: what it made here, in order. `burrow host harden --undo` removes\n"
      "# each of them that is unchanged since.\n",
      kMarker);
  for (const Entry& e : entries)
    out += e.sha.empty() ? fmt::format("{} {}\n", kindWord(e.kind), e.path)
                         : fmt::format("{} {} {}\n", kindWord(e.kind), e.path, e.sha);
  return out;
}

const Entry* recorded(const std::vector<Entry>& rec, std::string_view path) {
  for (auto it = rec.rbegin(); it != rec.rend(); ++it)
    if (it->path == path) return &*it;
  return nullptr;
}

// Burrow's own file: recorded, and unchanged since it was written.
bool ours(const RootView& r, const std::vector<Entry>& rec, std::string_view path) {
  const Entry* e = recorded(rec, path);
  if (e == nullptr || e->kind != Entry::Kind::File) return false;
  auto text = r.read(path);
  return text && sha256(*text) == e->sha;
}

std::string fileText(Kind k, const std::vector<std::pair<std::string, std::string>>& settings) {
  std::string out = fmt::format(
      "{} (seed 001's host profile).\n"
      "# `burrow host harden --undo` removes it; set things of your own in another file.\n",
      kMarker);
  if (k == Kind::Journald) out += "[Service]\n";
  if (k == Kind::Manager) out += "[Manager]\n";
  for (const auto& [key, value] : settings)
    out += k == Kind::Sysctl ? fmt::format("{} = {}\n", key, value)
                             : fmt::format("{}={}\n", key, value);
  return out;
}

std::string when(Kind k, bool running) {
  if (!running) return "when the system boots";
  switch (k) {
    case Kind::Journald:
      return "when journald restarts: at the next boot, or now with systemctl restart "
             "systemd-journald";
    case Kind::Mask:
      return "now: systemd will not start it (a running one runs until it stops)";
    case Kind::Sysctl:
      return "now (sysctl --system)";
    case Kind::Manager:
      return "at the next boot, or now with systemctl daemon-reexec";
    case Kind::Cmdline:
      return "at the next boot";
  }
  return "";
}

// One file or mask to make.
struct Planned {
  Kind kind;
  std::string path;
  std::optional<std::string> text;  // nullopt: a mask
  std::string what;                 // "UMask=0077 PrivateNetwork=yes" or the unit's name
};

// Makes the missing directories of `dir` (inside the root), recording each.
base::Result<void> makeDirs(const RootView& r, const std::string& dir, std::vector<Entry>& rec,
                            base::Undo& undo) {
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    std::string part = dir.substr(0, pos);
    if (part.empty()) continue;
    auto n = r.node(part);
    if (n == RootView::Node::Dir) continue;
    if (n != RootView::Node::None) {
      // A symlink to a directory (/lib on a merged-/usr system) is fine; anything else is not.
      struct stat st {};
      if (::stat(r.path(part).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
      return base::invalid("{} is not a directory", r.path(part));
    }
    std::string real = r.path(part);
    if (::mkdir(real.c_str(), 0755) != 0) return base::sysError("mkdir {}", real);
    undo.add([real] { ::rmdir(real.c_str()); });
    rec.push_back({Entry::Kind::Dir, part, ""});
  }
  return {};
}

base::Result<void> saveRecord(const RootView& r, const std::vector<Entry>& rec) {
  return base::writeFileAtomic(r.path(kRecord), recordText(rec), 0644);
}

bool selected(const HardenOptions& o, std::string_view id) {
  return o.only.empty() || std::find(o.only.begin(), o.only.end(), id) != o.only.end();
}

}  // namespace
}  // namespace internal

using namespace internal;

base::Result<Report> harden(const HardenOptions& o) {
  for (const std::string& id : o.only) {
    auto ids = itemIds();
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) {
      std::string all;
      for (const auto& i : ids) all += (all.empty() ? "" : ", ") + i;
      return base::invalid("--only {}: no such item (items: {})", id, all);
    }
  }
  ASSIGN_OR_RETURN(Audit before, audit(o.root));
  RootView r(o.root);
  const InitOf init = initOf(r);
  ASSIGN_OR_RETURN(std::vector<Entry> rec, readRecord(r));
  Report report;
  const std::string prefix = o.dry_run ? "would " : "";

  auto rowOf = [&](std::string_view id) -> const Row& {
    for (const Row& row : before.rows)
      if (row.id == id) return row;
    CHECK(false);
    return before.rows.front();
  };
  auto wanted = [&](const Item& it) {
    const Row& row = rowOf(it.id);
    return selected(o, it.id) && (row.state == State::Missing || row.state == State::Differs);
  };

  std::vector<Planned> plan;
  std::set<std::string> refused;  // item ids left alone
  std::vector<std::string> steps;
  // The files of the file-backed kinds: what burrow's file holds now (when it is burrow's),
  // plus what is wanted.
  for (Kind k : {Kind::Journald, Kind::Sysctl, Kind::Manager}) {
    const std::string path(ownFile(k));
    std::vector<const Item*> want;
    for (const Item& it : profile())
      if (it.kind == k && wanted(it)) want.push_back(&it);
    if (want.empty()) continue;
    auto existing = r.read(path);
    if (existing && !ours(r, rec, path)) {
      for (const Item* it : want) {
        refused.insert(std::string(it->id));
        report.lines.push_back(fmt::format(
            "left alone: {} ({}): {} is not burrow's (a file of yours, or changed since burrow "
            "wrote it); set it there, or move that file away and run harden again",
            rowOf(it->id).setting, it->id, r.path(path)));
      }
      continue;
    }
    std::vector<std::pair<std::string, std::string>> settings;
    for (const Item& it : profile()) {
      if (it.kind != k) continue;
      bool keep = false;
      if (existing)
        for (const auto& [key, value] : ownSettings(*existing)) keep |= key == it.key;
      if (keep || std::find(want.begin(), want.end(), &it) != want.end())
        settings.emplace_back(it.key, it.value);
    }
    std::string text = fileText(k, settings);
    if (existing && *existing == text) continue;
    std::string what;
    for (const Item* it : want)
      what += fmt::format("{}{}{}{}", what.empty() ? "" : ", ", it->key,
                          k == Kind::Sysctl ? " = " : "=", it->value);
    r.planFile(path, text);
    plan.push_back({k, path, text, what});
  }
  for (const Item& it : profile()) {
    if (it.kind == Kind::Mask && wanted(it)) {
      std::string_view units = it.key;
      while (!units.empty()) {
        size_t sp = units.find(' ');
        std::string unit(units.substr(0, sp));
        units = sp == std::string_view::npos ? "" : units.substr(sp + 1);
        std::string found;
        for (std::string_view d : unitDirs())
          if (r.node(fmt::format("{}/{}", d, unit)) != RootView::Node::None) {
            found = fmt::format("{}/{}", d, unit);
            break;
          }
        if (found.empty()) continue;  // not installed here
        std::string path = fmt::format("{}/{}", kMaskDir, unit);
        if (found == path) {
          if (r.linkTarget(path) == "/dev/null") continue;
          refused.insert(std::string(it.id));
          report.lines.push_back(fmt::format(
              "left alone: {} ({}): {} is a unit file of yours; burrow masks only where nothing "
              "is (move it away, or run systemctl mask {})",
              rowOf(it.id).setting, it.id, r.path(path), unit));
          continue;
        }
        r.planMask(path);
        plan.push_back({Kind::Mask, path, std::nullopt, unit});
      }
    }
    if (it.kind == Kind::Cmdline && wanted(it))
      steps.push_back(fmt::format("step for you: {} ({}; burrow does not rewrite a boot loader)",
                                  cmdlineStep(r), when(Kind::Cmdline, r.running())));
  }
  // The plan judged by the audit's own code: what a file of the user's own still overrides.
  for (const Item& it : profile()) {
    if (!wanted(it) || it.kind == Kind::Cmdline || refused.count(std::string(it.id))) continue;
    Row after = evaluate(it, r, init);
    if (after.state == State::Ok) continue;
    if (it.kind == Kind::Sysctl && after.state == State::Differs &&
        after.detail.starts_with("set for the next boot"))
      continue;  // sysctl --system below makes it so
    refused.insert(std::string(it.id));
    report.lines.push_back(
        fmt::format("left alone: {} ({}): {}; burrow's file comes before it: change it there",
                    after.setting, it.id, after.detail));
  }
  report.left_alone = !refused.empty();

  if (!o.dry_run && !plan.empty()) {
    base::Undo undo;
    RETURN_IF_ERROR(makeDirs(r, std::string(kRecord.substr(0, kRecord.rfind('/'))), rec, undo));
    const std::string record_path = r.path(kRecord);
    auto old_record = base::readFile(record_path, 1 << 20);
    undo.add([record_path, old_record] {
      if (old_record)
        (void)base::writeFileAtomic(record_path, *old_record, 0644);
      else
        ::unlink(record_path.c_str());
    });
    for (const Planned& p : plan) {
      RETURN_IF_ERROR(makeDirs(r, p.path.substr(0, p.path.rfind('/')), rec, undo));
      const std::string real = r.path(p.path);
      if (p.text) {
        auto previous = base::readFile(real, 1 << 20);
        RETURN_IF_ERROR(base::writeFileAtomic(real, *p.text, 0644));
        undo.add([real, previous] {
          if (previous)
            (void)base::writeFileAtomic(real, *previous, 0644);
          else
            ::unlink(real.c_str());
        });
        std::erase_if(rec, [&](const Entry& e) { return e.path == p.path; });
        rec.push_back({Entry::Kind::File, p.path, sha256(*p.text)});
      } else {
        if (::symlink("/dev/null", real.c_str()) != 0) return base::sysError("symlink {}", real);
        undo.add([real] { ::unlink(real.c_str()); });
        rec.push_back({Entry::Kind::Mask, p.path, ""});
      }
      RETURN_IF_ERROR(saveRecord(r, rec));
    }
    undo.keep();
  }
  for (const Planned& p : plan) {
    if (p.text)
      report.lines.push_back(fmt::format("{}write {}: {} ({})", prefix, r.path(p.path), p.what,
                                         when(p.kind, r.running())));
    else
      report.lines.push_back(fmt::format("{}mask {}: {} -> /dev/null ({})", prefix, p.what,
                                         r.path(p.path), when(Kind::Mask, r.running())));
  }
  for (std::string& s : steps) report.lines.push_back(std::move(s));

  if (!o.dry_run && r.running() && init.init == Init::Systemd) {
    bool units = std::any_of(plan.begin(), plan.end(), [](const Planned& p) {
      return p.kind == Kind::Journald || p.kind == Kind::Mask;
    });
    if (units) {
      RETURN_IF_ERROR(
          supervise::runPrivileged({"reload systemd", {"systemctl", "daemon-reload"}, ""}));
      report.lines.push_back("ran systemctl daemon-reload");
    }
  }
  if (!o.dry_run && r.running() && std::any_of(plan.begin(), plan.end(), [](const Planned& p) {
        return p.kind == Kind::Sysctl;
      })) {
    RETURN_IF_ERROR(supervise::runPrivileged({"apply sysctl.d", {"sysctl", "--system"}, ""}));
    report.lines.push_back("ran sysctl --system");
  }
  if (plan.empty() && steps.empty() && refused.empty())
    report.lines.push_back(fmt::format("nothing to change: every {}item is ok on {}",
                                       o.only.empty() ? "" : "chosen ",
                                       r.running() ? "this host" : o.root));
  return report;
}

base::Result<Report> undo(const HardenOptions& o) {
  if (!o.only.empty()) return base::invalid("--only is not taken with --undo: undo takes back all");
  struct stat st {};
  if (::stat(o.root.c_str(), &st) != 0) return base::sysError("root {}", o.root);
  RootView r(o.root);
  const InitOf init = initOf(r);
  ASSIGN_OR_RETURN(std::vector<Entry> rec, readRecord(r));
  Report report;
  if (rec.empty()) {
    report.lines.push_back(fmt::format("nothing to undo: burrow host harden wrote nothing in {}",
                                       r.running() ? "/" : o.root));
    return report;
  }
  const std::string prefix = o.dry_run ? "would " : "";
  std::vector<Entry> kept;
  bool units = false, sysctl = false;
  for (const Entry& e : rec) {
    if (e.kind == Entry::Kind::Dir) continue;
    const std::string real = r.path(e.path);
    auto n = r.node(e.path);
    if (n == RootView::Node::None) continue;  // already gone
    bool unchanged = e.kind == Entry::Kind::File
                         ? n == RootView::Node::File && ours(r, rec, e.path)
                         : n == RootView::Node::Link && r.linkTarget(e.path) == "/dev/null";
    if (!unchanged) {
      report.left_alone = true;
      kept.push_back(e);
      report.lines.push_back(fmt::format("left alone: {} changed since burrow wrote it", real));
      continue;
    }
    if (!o.dry_run && ::unlink(real.c_str()) != 0) return base::sysError("remove {}", real);
    report.lines.push_back(fmt::format("{}remove {}", prefix, real));
    units |= e.kind == Entry::Kind::Mask || e.path == kJournaldDropIn;
    sysctl |= e.path == kSysctlFile;
  }
  if (!o.dry_run) {
    if (kept.empty()) {
      if (::unlink(r.path(kRecord).c_str()) != 0 && errno != ENOENT)
        return base::sysError("remove {}", r.path(kRecord));
    }
    for (auto it = rec.rbegin(); it != rec.rend(); ++it) {
      if (it->kind != Entry::Kind::Dir) continue;
      if (::rmdir(r.path(it->path).c_str()) == 0) {
        report.lines.push_back(fmt::format("removed {} (burrow made it)", r.path(it->path)));
      } else if (errno != ENOENT) {
        kept.push_back(*it);
      }
    }
    if (!kept.empty()) {
      std::vector<Entry> rest;
      for (const Entry& e : rec)  // in the original order
        if (std::any_of(kept.begin(), kept.end(), [&](const Entry& k) { return k.path == e.path; }))
          rest.push_back(e);
      RETURN_IF_ERROR(saveRecord(r, rest));
    }
    if (r.running() && init.init == Init::Systemd && units) {
      RETURN_IF_ERROR(
          supervise::runPrivileged({"reload systemd", {"systemctl", "daemon-reload"}, ""}));
      report.lines.push_back("ran systemctl daemon-reload");
    }
  }
  if (sysctl && r.running())
    report.lines.push_back(
        "kernel.kexec_load_disabled stays 1 until the next boot: the kernel has no way back");
  return report;
}

}  // namespace host
