// libFuzzer target: the edge reads registration frames from anyone who completes a TLS
// handshake, and the connector reads replies from the edge. Neither may crash, and whatever
// decodes must survive a re-encode/decode round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/check.h"
#include "tunnel/registration.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  if (in.size() >= tunnel::kFrameHeader) {
    auto n = tunnel::frameLength(in.substr(0, tunnel::kFrameHeader));
    if (n) CHECK(*n >= 1 && *n <= tunnel::kMaxFrame);
  }
  (void)tunnel::frameLength(in);

  if (auto r = tunnel::decodeRegistration(in)) {
    std::string frame = tunnel::encodeRegistration(*r);
    auto n = tunnel::frameLength(std::string_view(frame).substr(0, tunnel::kFrameHeader));
    CHECK(n && *n == frame.size() - tunnel::kFrameHeader);
    auto again = tunnel::decodeRegistration(std::string_view(frame).substr(tunnel::kFrameHeader));
    CHECK(again);
    CHECK(again->tunnel_id == r->tunnel_id && again->secret == r->secret &&
          again->conn_index == r->conn_index && again->connector_id == r->connector_id &&
          again->version == r->version);
  }

  if (auto r = tunnel::decodeReply(in)) {
    std::string frame = tunnel::encodeReply(*r);
    auto again = tunnel::decodeReply(std::string_view(frame).substr(tunnel::kFrameHeader));
    CHECK(again);
    CHECK(again->verdict == r->verdict && again->connection_id == r->connection_id &&
          again->message == r->message);
  }

  // encodeReply promises a decodable frame for any message text.
  tunnel::Reply any{tunnel::Verdict::Busy, "", std::string(in)};
  std::string frame = tunnel::encodeReply(any);
  CHECK(frame.size() <= tunnel::kFrameHeader + tunnel::kMaxFrame);
  CHECK(tunnel::decodeReply(std::string_view(frame).substr(tunnel::kFrameHeader)));
  return 0;
}
