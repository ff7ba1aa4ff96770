// Fuzzes what the edge reads from a client connection as a whole: back-to-back requests with
// Content-Length and chunked bodies, through the same parser and checks as the HTTP/1.1
// server. Seeds: fuzz/seeds/request_stream (request smuggling forms). Must never crash, leak
// or hang; every accepted request has one framing, and a body only when its head says so.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/check.h"
#include "http/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  http::ServerLimits limits;
  limits.max_head_bytes = 8 * 1024;
  int status = 0;
  auto requests = http::parseRequestStream(bytes, limits, &status);
  if (!requests) {
    CHECK(status == 400 || status == 431 || status == 501);
    return 0;
  }
  for (const auto& r : *requests) {
    if (!r.head.has_body && !r.head.upgrade_websocket) CHECK(r.body.empty());
    if (r.head.content_length) CHECK(r.body.size() == *r.head.content_length);
    for (const auto& h : r.head.headers) CHECK(h.name != "transfer-encoding" && h.name != "host");
    CHECK(http::validAuthority(r.head.authority));
  }
  return 0;
}
