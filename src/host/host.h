// host: seed 001's host profile — what hardens the machine itself rather than one service
// (journald's sandbox, no emergency shell, reboot on panic, no kexec, no services a headless
// server never needs, short manager watchdogs). audit() reads where a root directory stands
// ("/" is the running host); harden() writes what is missing as files burrow owns and lists
// them in ROOT/var/lib/burrow/host-harden, so that undo() removes exactly those. Every call
// reads the root afresh; nothing is cached. Not for concurrent use on one root.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace host {

enum class State {
  Ok,             // set as the profile wants
  Missing,        // not set anywhere
  Differs,        // set otherwise, or set for the next boot but not now (detail: what, where)
  NotApplicable,  // nothing to set here: no such unit, or the init is not systemd (detail: why)
};
const char* stateName(State s);  // "ok", "missing", "differs", "not applicable"

// One item of the profile as found in a root.
struct Row {
  std::string id;       // "journald-umask": the name --only takes
  std::string setting;  // "UMask=0077 for systemd-journald.service"
  std::string why;      // the seed's reason
  State state = State::Missing;
  std::string detail;  // for Differs and NotApplicable; may be empty otherwise
  std::string file;    // the file that sets it, or would: absolute inside the root
};

struct Audit {
  std::string root;      // as given
  std::string init;      // "systemd", "OpenRC" or "none"
  std::string init_why;  // "PID 1 is systemd", "/sbin/openrc-run is installed"
  std::vector<Row> rows;
  bool allOk() const;  // every row Ok or NotApplicable
};

// The item ids, in the profile's order.
std::vector<std::string> itemIds();

// Where ROOT stands. Errors only for a root that cannot be read at all.
base::Result<Audit> audit(const std::string& root);
// A table: ITEM, SETTING, STATE, FILE, WHY; then one line saying how many items are ok.
std::string formatAudit(const Audit& a);
// {"root", "init", "init_why", "ok", "items": [{"id", "setting", "why", "state", "detail",
// "file"}]}
std::string formatAuditJson(const Audit& a);

struct HardenOptions {
  std::string root = "/";
  bool dry_run = false;           // print the plan, write nothing
  std::vector<std::string> only;  // item ids; empty: every item
};

// What harden or undo did (or, with dry_run, would do).
struct Report {
  std::vector<std::string> lines;  // one per change, step or refusal, for a person
  bool left_alone = false;         // an item could not be set without touching a file of
                                   // the user's own: the caller exits non-zero
};

// Writes what is missing: journald's drop-in, masks (symlinks to /dev/null), a sysctl.d file,
// a system.conf.d drop-in; the kernel command line item is printed as the step to take. A
// path burrow wants that holds a file of the user's own is left alone and reported. On the
// running host ("/"), runs `sysctl --system` and `systemctl daemon-reload` when it changed
// what they read. Idempotent: a second run writes nothing. Errors: an unknown --only id, a
// root that cannot be written (nothing half-written is left: each file is written atomically
// and recorded as it is written).
base::Result<Report> harden(const HardenOptions& o);

// Removes what harden wrote and is unchanged since, and the directories it made when they
// are empty; a file changed since is left alone and reported. `only` is not taken.
base::Result<Report> undo(const HardenOptions& o);

}  // namespace host
