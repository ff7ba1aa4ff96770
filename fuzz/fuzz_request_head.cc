// Fuzzes the edge's request-head parsing: the bytes a client sends before the body, through
// the same parser and checks the HTTP/1.1 server uses. Must never crash, leak or hang, and an
// accepted head must satisfy the invariants the tunnel relies on.
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
  auto head = http::parseRequestHead(bytes, limits, &status);
  if (!head) {
    CHECK(status == 400 || status == 431 || status == 501);
    return 0;
  }
  CHECK(!head->method.empty());
  CHECK(!head->target.empty());
  for (const auto& h : head->headers) {
    // Hop-by-hop and framing headers never cross the tunnel as plain headers.
    CHECK(h.name != "connection" && h.name != "transfer-encoding" && h.name != "host" &&
          h.name != "upgrade" && h.name != "keep-alive" && h.name != "expect");
    for (char c : h.name) CHECK(!(c >= 'A' && c <= 'Z'));
  }
  if (head->upgrade_websocket) CHECK(head->method == "GET");
  if (head->content_length && *head->content_length > 0) CHECK(head->has_body);
  return 0;
}
