// Private to src/http: helpers shared by the HTTP/1.1 server and the origin proxy.
#pragma once

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

}  // namespace http
