// libFuzzer target: `burrow host audit --root DIR` reads a system image's files, which may come
// from anywhere (a downloaded image). The input is split on "\n----\n" into journald's unit, a
// drop-in of it, a sysctl.d file, system.conf, /etc/default/grub and burrow's own record;
// audit, a dry-run harden and a dry-run undo must turn any of them into rows or an error.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "base/check.h"
#include "fixture.h"
#include "host/host.h"

namespace {

constexpr const char* kFiles[] = {
    "usr/lib/systemd/system/systemd-journald.service",
    "etc/systemd/system/systemd-journald.service.d/10-fuzz.conf",
    "etc/sysctl.d/50-fuzz.conf",
    "etc/systemd/system.conf",
    "etc/default/grub",
    "var/lib/burrow/host-harden",
};

const std::string& root() {
  static const std::string dir = fuzz::makeFixture(
      "host", {{"usr/", ""},
               {"usr/lib/", ""},
               {"usr/lib/systemd/", ""},
               {"usr/lib/systemd/systemd", ""},
               {"usr/lib/systemd/system/", ""},
               {"usr/lib/systemd/system/emergency.service", "[Unit]\n"},
               {kFiles[0], ""},
               {"etc/", ""},
               {"etc/default/", ""},
               {kFiles[4], ""},
               {"etc/sysctl.d/", ""},
               {kFiles[2], ""},
               {"etc/systemd/", ""},
               {kFiles[3], ""},
               {"etc/systemd/system/", ""},
               {"etc/systemd/system/systemd-journald.service.d/", ""},
               {kFiles[1], ""},
               {"var/", ""},
               {"var/lib/", ""},
               {"var/lib/burrow/", ""},
               {kFiles[5], ""}});
  return dir;
}

void put(const std::string& path, std::string_view text) {
  FILE* f = std::fopen(path.c_str(), "we");
  CHECK(f != nullptr);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string& dir = root();
  for (const char* name : kFiles) {
    size_t cut = in.find("\n----\n");
    put(dir + "/" + name, in.substr(0, cut));
    in = cut == std::string_view::npos ? std::string_view{} : in.substr(cut + 6);
  }
  auto a = host::audit(dir);
  CHECK(a);
  CHECK(a->rows.size() == host::itemIds().size());
  CHECK(!host::formatAudit(*a).empty());
  CHECK(!host::formatAuditJson(*a).empty());
  host::HardenOptions o;
  o.root = dir;
  o.dry_run = true;
  (void)host::harden(o);
  (void)host::undo(o);
  return 0;
}
