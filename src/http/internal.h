// Private to src/http: helpers shared by the HTTP/1.1 server and the origin proxy.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>

#include "http/http.h"

namespace http {

// True for hop-by-hop header names (lowercase) that never cross a proxy.
bool isHopByHop(std::string_view lower_name);
// True when `lower_name` is one of the comma-separated tokens of a Connection value.
bool listedInConnection(std::string_view connection_value, std::string_view lower_name);
// Builds a RequestHead from a parsed HTTP/1.1 head; *status is the answer on error.
base::Result<RequestHead> requestFromBeast(const boost::beast::http::request_header<>& h,
                                           int* status);
std::string serializeResponseHead(const ResponseHead& head, bool chunked, bool close, int version);
bool statusHasNoBody(int status);

// Why a roundTrip() did not complete.
struct RoundTripError {
  std::string message;       // for the log, never for the client
  int status = 502;          // what proxy() answers: 502, or 504 after responseTimeout
  bool abandoned = false;    // the client went away: nothing more is owed to it
  bool unreachable = false;  // no connection to the origin could be made
};
// One exchange of `req` with the HTTP/1.1 origin `svc` (Http, Https, Unix or UnixTls) over a
// pooled connection, the answer relayed to `out`: a stale pooled connection is retried once, a
// reusable one goes back to the pool. On failure the error, and nothing more written to `out`
// (whose head may already be out).
Task<std::optional<RoundTripError>> roundTrip(OriginPool& pool, const config::Service& svc,
                                              const config::OriginSettings& origin,
                                              RequestHead& req, BodyReader& body,
                                              ResponseWriter& out);

}  // namespace http
