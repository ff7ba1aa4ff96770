// For fuzz targets whose parser reads the files its input names: a private directory of
// known files to point the input at, and a filter for inputs that could reach anything else.
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fuzz {

// A valid wg-quick file (test keys, documentation addresses), for `configFile: peer.conf`.
inline constexpr const char kPeerConf[] =
    "[Interface]\n"
    "PrivateKey = O5qhQv76RKq4OrHAkJ9pKf1TZWuJXsL8DkfUEupiulQ=\n"
    "Address = 10.64.1.2/32, fc00::2\n"
    "DNS = 10.64.0.1, search.example\n"
    "MTU = 1320\n"
    "[Peer]\n"
    "PublicKey = OyE87QA+ibNaJsIsvQEcm/qylXhBWyBp9/yLAZmLkD0=\n"
    "AllowedIPs = 0.0.0.0/0\n"
    "Endpoint = 198.51.100.20:51820\n";

// A file of the fixture: `text` is written to `name`; a name ending in '/' is a directory.
struct FixtureFile {
  const char* name;
  const char* text;
};

// Makes /tmp/burrow-fuzz-TAG-XXXXXX holding `files` (in order, so a directory comes before what
// it holds) and returns its path. Everything is removed at exit. Call it once per process.
inline std::string makeFixture(std::string_view tag, std::initializer_list<FixtureFile> files) {
  static std::vector<std::string> made;  // what to remove, in the order made
  std::string dir = "/tmp/burrow-fuzz-" + std::string(tag) + "-XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) __builtin_trap();
  made.push_back(dir);
  for (const FixtureFile& f : files) {
    std::string path = dir + "/" + f.name;
    if (path.ends_with('/')) {
      path.pop_back();
      if (::mkdir(path.c_str(), 0700) != 0) __builtin_trap();
    } else {
      FILE* out = ::fopen(path.c_str(), "we");
      if (out == nullptr) __builtin_trap();
      ::fputs(f.text, out);
      ::fclose(out);
    }
    made.push_back(std::move(path));
  }
  ::atexit([] {
    for (auto it = made.rbegin(); it != made.rend(); ++it) {
      if (::unlink(it->c_str()) != 0) ::rmdir(it->c_str());
    }
  });
  return dir;
}

// Whether `text` could name a file outside the fixture that blocks when read (a FIFO,
// /dev/kmsg, a terminal): paths under /dev, /proc, /run and /sys, paths climbing out with
// "..", and double-quoted YAML escapes that could spell them.
inline bool mayEscapeFixture(std::string_view text) {
  for (std::string_view bad : {"/dev", "/proc", "/run", "/sys", "..", "\\"}) {
    if (text.find(bad) != std::string_view::npos) return true;
  }
  return false;
}

}  // namespace fuzz
