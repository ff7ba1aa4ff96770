// libFuzzer target: the dashboard's pages from snapshots with bytes nobody checked in them (a
// service's log lines, names and errors from records): any JSON, and the bytes as every string
// of a stack snapshot. The page must render, and no byte of the input may reach it as markup.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "admin/admin.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // The bytes as a whole snapshot, of either kind.
  for (admin::Kind kind : {admin::Kind::Edge, admin::Kind::Stack}) {
    const std::string main = admin::renderMain(kind, text);
    if (main.rfind("<main id=\"main\">", 0) != 0) std::abort();
  }
  // The bytes as every string of a stack snapshot: they show escaped, or not at all.
  const std::string marked = "<x-fuzz>" + text;
  nlohmann::json svc = {{"name", marked},         {"state", marked},   {"pid", 1},
                        {"address", marked},      {"network", marked}, {"last_exit", marked},
                        {"exposure", 1.5},        {"band", marked},    {"worst", {marked}},
                        {"log", {marked, marked}}};
  nlohmann::json snap = {
      {"now", 1},
      {"running", true},
      {"file", marked},
      {"error", marked},
      {"services", {svc}},
      {"connector", svc},
      {"routes",
       {{{"hostname", marked},
         {"path", marked},
         {"rule", marked},
         {"service", marked},
         {"target", marked},
         {"middlewares", {marked}}}}},
      {"namespaces", {{{"name", marked}, {"state", marked}, {"last_handshake", 1}}}}};
  // With --admin-actions' forms, whose hidden fields carry the names, and what was done.
  const admin::Controls controls{"00ff", {marked}};
  const std::string page = admin::renderPage(
      admin::Kind::Stack, snap.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
      &controls);
  if (page.find("<x-fuzz>") != std::string::npos) std::abort();
  return 0;
}
