// libFuzzer target: bytes -> the WebSocket frame decoder of tcp:// routes (client frames,
// masked) and of `burrow access` (server frames, unmasked), fed in two pieces split at the
// first byte's value. Neither may crash or hang; a decoded frame re-encodes to a frame that
// decodes to the same payload.
#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "http/websocket.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t split = std::min<size_t>(data[0], in.size());
  for (bool masked : {true, false}) {
    http::ws::Decoder d(masked, 1 << 16);
    std::vector<http::ws::Frame> frames;
    if (d.feed(in.substr(0, split), &frames) && d.feed(in.substr(split), &frames)) {
      for (const auto& f : frames) {
        std::string again = http::ws::encodeFrame(
            f.op, f.payload, masked ? std::optional<uint32_t>(0x01020304) : std::nullopt);
        http::ws::Decoder check(masked, 1 << 16);
        std::vector<http::ws::Frame> back;
        if (!check.feed(again, &back) || back.size() != 1 || back[0].payload != f.payload)
          __builtin_trap();
      }
    }
  }
  return 0;
}
