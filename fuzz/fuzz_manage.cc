// libFuzzer target: the management API a login calls over the edge's tunnel listener reads
// whatever a client sends: the Authorization header (a login token), the method, the target
// and a JSON body. Input: one flag byte (bit 0: use the fixture's valid login token instead of
// the input's), then METHOD \n TARGET \n AUTHORIZATION \n BODY. Every answer must be a status
// from 200 to 599 with a JSON object, and a refusal must leave state.json as it was.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/base.h"
#include "base/check.h"
#include "fixture.h"
#include "tunnel/manage.h"
#include "tunnel/tunnel.h"

namespace {

struct World {
  std::string dir, login, pristine;
};

World& world() {
  static World w = [] {
    World x;
    x.dir = fuzz::makeFixture("manage", {{"edge/", ""}}) + "/edge";
    auto token = tunnel::createLogin(x.dir, "home", {"example.net"}, "127.0.0.1:7844", "");
    CHECK(token);
    x.login = "Bearer " + *token;
    auto st = base::readFile(x.dir + "/state.json");
    CHECK(st);
    x.pristine = *st;
    return x;
  }();
  return w;
}

std::string_view field(std::string_view& in) {
  size_t nl = in.find('\n');
  std::string_view out = in.substr(0, nl);
  in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  World& w = world();
  // Every input starts from the same state (a create by an earlier input must not pile up).
  CHECK(base::writeFileAtomic(w.dir + "/state.json", w.pristine, 0600));
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const bool valid = (data[0] & 1) != 0;
  std::string_view method = field(in), target = field(in), auth = field(in);
  tunnel::ManageApi api(w.dir, nullptr);
  tunnel::ManageReply r =
      api.handle(method, target, valid ? std::string_view(w.login) : auth, in, "192.0.2.1");
  CHECK(r.status >= 200 && r.status <= 599);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  CHECK(!j.is_discarded() && j.is_object());
  if (r.status >= 400) {
    CHECK(!r.changed);
    auto now = base::readFile(w.dir + "/state.json");
    CHECK(now && *now == w.pristine);
  }
  return 0;
}
