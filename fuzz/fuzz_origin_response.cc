// Fuzzes reading an origin's response at the connector: the head parser and, for chunked
// bodies, the decoder fed in pieces of the size the first byte picks. Must never crash, leak
// or hang; an accepted head and the decoded body must satisfy what the proxy relies on.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/check.h"
#include "http/origin_response.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t piece = (data[0] & 0x3f) + 1;
  bool head_request = data[0] & 0x40;
  std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  http::OriginResponse r;
  auto used = http::parseOriginResponse(bytes, head_request, &r);
  if (!used || *used == 0) return 0;
  CHECK(*used <= bytes.size());
  CHECK(r.head.status >= 100 && r.head.status <= 999);
  for (const auto& h : r.head.headers) {
    CHECK(!h.name.empty());
    CHECK(h.name != "connection" && h.name != "transfer-encoding" && h.name != "content-length" &&
          h.name != "keep-alive" && h.name != "upgrade");
    for (char c : h.name) CHECK(!(c >= 'A' && c <= 'Z'));
    for (char c : h.value) CHECK(c != '\r' && c != '\n' && c != '\0');
  }
  if (head_request) CHECK(r.framing == http::BodyFraming::None);
  if (r.framing == http::BodyFraming::UntilClose) CHECK(!r.keep_alive);
  if (r.framing != http::BodyFraming::Chunked) return 0;

  std::string_view wire = bytes.substr(*used);
  http::ChunkedDecoder d;
  std::string buffered;
  size_t fed = 0, body = 0;
  while (!d.done()) {
    auto s = d.step(buffered);
    if (!s) return 0;
    CHECK(s->consumed <= buffered.size());
    CHECK(s->data_offset + s->data_len <= s->consumed);
    body += s->data_len;
    buffered.erase(0, s->consumed);
    if (s->consumed > 0) continue;
    if (fed == wire.size()) return 0;
    size_t n = std::min(piece, wire.size() - fed);
    buffered.append(wire.substr(fed, n));
    fed += n;
  }
  CHECK(body <= wire.size());
  return 0;
}
