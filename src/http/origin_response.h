// Reading an origin's HTTP/1.1 response: the head (status line and fields, straight into a
// ResponseHead) and the body framing, including a chunked decoder that hands body bytes back
// in place. No I/O and no allocation beyond the ResponseHead's own strings; the origin's
// bytes are untrusted, so both are fuzzed (fuzz/fuzz_origin_response.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/result.h"
#include "http/http.h"

namespace http {

enum class BodyFraming {
  None,        // no body: HEAD, 1xx, 204, 304
  Length,      // exactly `length` bytes
  Chunked,     // chunked transfer coding, ended by a zero-size chunk and the trailer section
  UntilClose,  // everything until the origin closes the connection
};

struct OriginResponse {
  ResponseHead head;  // end-to-end fields only; content_length as the origin sent it
  BodyFraming framing = BodyFraming::None;
  uint64_t length = 0;     // for BodyFraming::Length
  bool keep_alive = true;  // the connection may carry another request afterwards
};

// Parses a response head from the start of `bytes`. Returns the number of bytes the head
// took (through the blank line), 0 when `bytes` does not hold a whole head yet, or an error
// that says what is malformed. `head_request`: the request was HEAD, so no body follows.
base::Result<size_t> parseOriginResponse(std::string_view bytes, bool head_request,
                                         OriginResponse* out);

// Decodes the chunked transfer coding one step at a time, without copying: each step()
// either finds body bytes inside `in` (data_len > 0, at in.data() + data_offset) or consumes
// framing (sizes, CRLFs, extensions, trailers, which are dropped). A step that consumes
// nothing needs more input.
class ChunkedDecoder {
 public:
  struct Step {
    size_t consumed = 0;  // drop this many bytes from the front of the input
    size_t data_offset = 0;
    size_t data_len = 0;
  };
  base::Result<Step> step(std::string_view in);
  bool done() const { return state_ == State::Done; }

 private:
  enum class State { Size, Data, DataEnd, Trailer, Done };
  State state_ = State::Size;
  uint64_t left_ = 0;  // bytes of the current chunk still to come
};

}  // namespace http
