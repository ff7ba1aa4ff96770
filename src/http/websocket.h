// RFC 6455 framing for the routes that carry TCP (tcp://, ssh://, rdp://, smb://): the
// connector speaks WebSocket to `burrow access` through the tunnel and raw bytes to the
// origin. No coroutines: fuzz builds link it alone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"

namespace http::ws {

enum class Opcode : uint8_t {
  Continuation = 0,
  Text = 1,
  Binary = 2,
  Close = 8,
  Ping = 9,
  Pong = 10,
};

// Sec-WebSocket-Accept for a Sec-WebSocket-Key.
std::string acceptKey(std::string_view key);

// One final frame. `mask`: a client's masking key (clients must mask, servers must not).
std::string encodeFrame(Opcode op, std::string_view payload, std::optional<uint32_t> mask);

struct Frame {
  Opcode op = Opcode::Binary;
  bool fin = true;
  std::string payload;  // unmasked
};

// Splits a byte stream into frames as they complete. A stream that breaks the protocol
// (reserved bits or opcodes, a control frame that is long or fragmented, the wrong masking for
// the side, a frame over `max_payload`) is an error, and the decoder stays failed.
class Decoder {
 public:
  Decoder(bool masked, uint64_t max_payload) : masked_(masked), max_payload_(max_payload) {}
  base::Result<void> feed(std::string_view data, std::vector<Frame>* out);

 private:
  const bool masked_;
  const uint64_t max_payload_;
  std::string buf_;
  bool failed_ = false;
};

}  // namespace http::ws
