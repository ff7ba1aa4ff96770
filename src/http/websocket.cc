#include "http/websocket.h"

#include <openssl/sha.h>

namespace http::ws {

std::string acceptKey(std::string_view key) {
  std::string s(key);
  s += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";  // RFC 6455's GUID
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
  return base::base64Encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

std::string encodeFrame(Opcode op, std::string_view payload, std::optional<uint32_t> mask) {
  std::string out;
  out.reserve(payload.size() + 14);
  out += static_cast<char>(0x80 | static_cast<uint8_t>(op));
  const uint8_t mask_bit = mask ? 0x80 : 0;
  const uint64_t n = payload.size();
  if (n < 126) {
    out += static_cast<char>(mask_bit | n);
  } else if (n <= 0xffff) {
    out += static_cast<char>(mask_bit | 126);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n & 0xff);
  } else {
    out += static_cast<char>(mask_bit | 127);
    for (int i = 7; i >= 0; --i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  }
  if (!mask) {
    out.append(payload);
    return out;
  }
  const uint8_t key[4] = {static_cast<uint8_t>(*mask >> 24), static_cast<uint8_t>(*mask >> 16),
                          static_cast<uint8_t>(*mask >> 8), static_cast<uint8_t>(*mask)};
  out.append(reinterpret_cast<const char*>(key), 4);
  size_t at = out.size();
  out.append(payload);
  for (size_t i = 0; i < payload.size(); ++i)
    out[at + i] = static_cast<char>(out[at + i] ^ key[i % 4]);
  return out;
}

base::Result<void> Decoder::feed(std::string_view data, std::vector<Frame>* out) {
  if (failed_) return base::invalid("the WebSocket stream already broke the protocol");
  buf_.append(data);
  size_t at = 0;
  auto fail = [&](std::string_view why) -> base::Result<void> {
    failed_ = true;
    buf_.clear();
    return base::invalid("WebSocket: {}", why);
  };
  for (;;) {
    std::string_view b(buf_);
    b.remove_prefix(at);
    if (b.size() < 2) break;
    const auto b0 = static_cast<uint8_t>(b[0]);
    const auto b1 = static_cast<uint8_t>(b[1]);
    if (b0 & 0x70) return fail("reserved bits set (no extension was agreed)");
    const uint8_t op = b0 & 0x0f;
    const bool fin = b0 & 0x80;
    const bool control = op >= 8;
    if (!(op <= 2 || (op >= 8 && op <= 10))) return fail("reserved opcode");
    if (static_cast<bool>(b1 & 0x80) != masked_)
      return fail(masked_ ? "a client's frame is not masked" : "a server's frame is masked");
    uint64_t n = b1 & 0x7f;
    size_t head = 2;
    if (n == 126) {
      if (b.size() < 4) break;
      n = (static_cast<uint64_t>(static_cast<uint8_t>(b[2])) << 8) | static_cast<uint8_t>(b[3]);
      head = 4;
    } else if (n == 127) {
      if (b.size() < 10) break;
      n = 0;
      for (int i = 0; i < 8; ++i) n = (n << 8) | static_cast<uint8_t>(b[2 + i]);
      if (n >> 63) return fail("payload length has its top bit set");
      head = 10;
    }
    if (control && (n > 125 || !fin)) return fail("control frame longer than 125 bytes or split");
    if (n > max_payload_) return fail("frame larger than allowed");
    if (masked_) head += 4;
    if (b.size() < head || b.size() - head < n) break;
    Frame f;
    f.op = static_cast<Opcode>(op);
    f.fin = fin;
    f.payload.assign(b.substr(head, static_cast<size_t>(n)));
    if (masked_) {
      const char* key = b.data() + head - 4;
      for (size_t i = 0; i < f.payload.size(); ++i) f.payload[i] ^= key[i % 4];
    }
    out->push_back(std::move(f));
    at += head + static_cast<size_t>(n);
  }
  buf_.erase(0, at);
  return {};
}

}  // namespace http::ws
