// auth: `burrow auth`, a login portal that speaks Authelia's protocol, so that Traefik's
// forwardAuth, nginx's auth_request and Caddy's forward_auth use it as they use Authelia. It
// reads Authelia's configuration.yml and users_database.yml (config), keeps sessions in memory,
// and serves one io_context thread; password hashing runs on a small pool of its own.
// The functions below block until they are done; they own everything they create.
#pragma once

#include <string>

#include "base/result.h"

namespace auth {

struct Options {
  std::string config_file = "configuration.yml";  // --config
  std::string password_file;                      // hash-password --password-file; "" = stdin
};

// Serves the portal on server.address until SIGINT or SIGTERM. Returns the exit status.
base::Result<int> runPortal(const Options& opts);

// Reads one password from opts.password_file (or stdin), never from the command line, and
// prints its argon2id hash in Authelia's format with Authelia's default parameters.
base::Result<int> runHashPassword(const Options& opts);

}  // namespace auth
