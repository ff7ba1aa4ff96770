// Private to src/admin: the page's assets, served from the binary.
#pragma once

#include <string_view>

namespace admin {

std::string_view stylesheet();  // /assets/dashboard.css
std::string_view script();      // /assets/dashboard.js: the live page (server-sent events)

}  // namespace admin
