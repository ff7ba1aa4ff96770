// libFuzzer target: the edge's RFC 2136 client reads whatever the DNS server (or anything in
// the path to it) sends, and the TSIG key file a user hands it. None may crash, and what
// parses must keep the promises the client relies on.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/check.h"
#include "tunnel/dns_update.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  if (auto r = tunnel::parseDnsReply(in)) {
    CHECK(in.size() >= 12);
    for (const auto* sec : {&r->answers, &r->authority, &r->additional})
      for (const auto& rec : *sec) {
        CHECK(rec.name.size() <= 255);
        CHECK(rec.type != tunnel::kDnsTypeTsig);
        CHECK(rec.rdata.size() <= in.size());
      }
    if (r->tsig) {
      CHECK(r->tsig->offset >= 12 && r->tsig->offset < in.size());
      tunnel::TsigKey key{"k", std::string(32, 'k')};
      (void)tunnel::verifyTsigReply(in, *r, key, std::string(32, 'm'), 0);
    }
    if (auto zone = tunnel::soaOwner(*r)) CHECK(zone->size() <= 255);
  }
  if (auto k = tunnel::parseTsigKey(in)) CHECK(!k->name.empty() && k->secret.size() >= 16);
  return 0;
}
