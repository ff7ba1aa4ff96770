#include "supervise/supervise.h"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>

#include "base/base.h"
#include "base/undo.h"

extern char** environ;

namespace supervise {
namespace {

constexpr const char* kHeader = "# Written by burrow service install";
constexpr const char* kCreated = "# burrow-created:";
constexpr const char* kStateDir = "# burrow-state-dir:";

struct Output {
  int status = 0;  // as from waitpid
  std::string out, err;
};

// Runs argv (looked up in PATH) with `input` on stdin; collects stdout and stderr.
base::Result<Output> runCommand(const std::vector<std::string>& argv, const std::string& input) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC))
    return base::sysError("pipe");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  for (int fd : {in[0], out[1], err[1]}) ::close(fd);
  base::UniqueFd to(in[1]), from(out[0]), from_err(err[0]);
  if (rc != 0) {
    errno = rc;
    return base::sysError("run {}", argv[0]);
  }
  // Small inputs (a unit file) fit the pipe; write, close, then read both outputs.
  Output o;
  if (!input.empty() && ::write(to.get(), input.data(), input.size()) < 0)
    o.err = fmt::format("writing stdin: {}", std::strerror(errno));
  to.reset();
  pollfd fds[2] = {{from.get(), POLLIN, 0}, {from_err.get(), POLLIN, 0}};
  std::string* dst[2] = {&o.out, &o.err};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0 && ::poll(fds, 2, -1) >= 0) {
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !fds[i].revents) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        dst[i]->append(buf, static_cast<size_t>(n));
      } else {
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  while (::waitpid(pid, &o.status, 0) < 0)
    if (errno != EINTR) return base::sysError("wait for {}", argv[0]);
  return o;
}

bool onPath(const char* prog) {
  const char* path = std::getenv("PATH");
  std::string_view rest = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
  while (!rest.empty()) {
    auto colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    if (::access((dir + "/" + prog).c_str(), X_OK) == 0) return true;
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return false;
}

std::string joined(const std::vector<std::string>& argv) {
  return fmt::format("{}", fmt::join(argv, " "));
}

std::string firstLine(std::string_view text) {
  text = base::trim(text);
  return std::string(text.substr(0, text.find('\n')));
}

// A file of the state directory, which is the service user's own (0700): read through the
// privileged runner when this user may not.
std::optional<std::string> readStateFile(const std::string& file, size_t max = 64) {
  auto text = base::readFile(file, max);
  if (text) return *text;
  if (text.error().code != std::errc::permission_denied) return std::nullopt;
  auto via = runPrivileged({"read " + file, {"cat", "--", file}, ""});
  if (!via) return std::nullopt;
  return *via;
}

bool exists(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) return true;
  // In a state directory (the service user's own, 0700) this user may not look into.
  return errno == EACCES && runPrivileged({"look for " + path, {"test", "-e", path}, ""});
}

bool validName(std::string_view n) {
  return !n.empty() && n.size() <= 32 && n.front() != '-' &&
         std::all_of(n.begin(), n.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
         });
}

// systemd's ExecStart= word: '%' doubled, quoted when it holds space or quotes.
std::string systemdWord(const std::string& w) {
  std::string out;
  bool quote = w.empty() || w.find_first_of(" \t\"'\\") != std::string::npos;
  for (char c : w) {
    if (c == '%') out += '%';
    if (quote && (c == '"' || c == '\\')) out += '\\';
    out += c;
  }
  return quote ? "\"" + out + "\"" : out;
}

std::string shellWord(const std::string& w) {
  std::string out = "'";
  for (char c : w) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string describe(const Service& s) {
  return fmt::format(
      "burrow {}",
      fmt::join(s.command.begin(), s.command.begin() + std::min<size_t>(2, s.command.size()), " "));
}

// The edge binding a port below 1024 needs CAP_NET_BIND_SERVICE, and then a user namespace
// of its own would take that right away.
bool bindsLowPort(const Service& s) {
  if (s.command.empty() || s.command[0] != "edge") return false;
  for (size_t i = 0; i + 1 < s.command.size(); ++i) {
    const auto& f = s.command[i];
    if (f != "--http" && f != "--https" && f != "--tunnel") continue;
    const auto& v = s.command[i + 1];
    int port = std::atoi(v.c_str() + (v.rfind(':') == std::string::npos ? 0 : v.rfind(':') + 1));
    if (port > 0 && port < 1024) return true;
  }
  return false;
}

std::string header(const Service& s, const std::vector<std::string>& created) {
  return fmt::format("{}; `burrow service uninstall --name {}` removes it.\n{} {}\n{} {}\n",
                     kHeader, s.name, kCreated, fmt::join(created, " "), kStateDir, s.state_dir);
}

// The state directory an install recorded in the file's header, or "" (older files).
std::string recordedStateDir(const std::string& path) {
  std::string text = readStateFile(path, 1 << 20).value_or("");
  auto at = text.find(kStateDir);
  if (at == std::string::npos) return "";
  std::string_view line(text.data() + at + std::strlen(kStateDir));
  return std::string(base::trim(line.substr(0, line.find('\n'))));
}

// Reads what an earlier install recorded in the file's header; an error when a file is there
// that burrow did not write.
base::Result<std::vector<std::string>> recordedCreations(const std::string& path) {
  if (!exists(path)) return std::vector<std::string>{};
  std::string text = readStateFile(path, 1 << 20).value_or("");
  if (text.find(kHeader) == std::string::npos)
    return base::makeError(std::errc::file_exists, "{} exists and was not written by burrow", path);
  std::vector<std::string> out;
  auto at = text.find(kCreated);
  if (at == std::string::npos) return out;
  std::string_view line(text.data() + at + std::strlen(kCreated));
  line = line.substr(0, line.find('\n'));
  while (!line.empty()) {
    line = base::trim(line);
    auto sp = line.find(' ');
    if (!line.empty()) out.emplace_back(line.substr(0, sp));
    if (sp == std::string_view::npos) break;
    line.remove_prefix(sp);
  }
  return out;
}

std::string noneRecord(const Service& s, const std::vector<std::string>& created) {
  return header(s, created) +
         fmt::format(
             "# burrow supervises it itself (--init none): {} service supervise --name {} "
             "--state-dir {} -- {}\n",
             s.burrow, s.name, s.state_dir, fmt::join(s.command, " "));
}

std::string pidFile(const std::string& state_dir, const std::string& name, bool supervisor) {
  return fmt::format("{}/{}{}.pid", state_dir, name, supervisor ? ".supervisor" : "");
}

// The pid in FILE when that process still runs burrow; 0 otherwise.
pid_t runningPid(const std::string& file) {
  auto text = readStateFile(file);
  if (!text) return 0;
  pid_t pid = static_cast<pid_t>(std::atoi(text->c_str()));
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno != EPERM)) return 0;
  auto comm = base::readFile(fmt::format("/proc/{}/comm", pid), 64);
  return comm && base::trim(*comm) == "burrow" ? pid : 0;
}

}  // namespace

base::Result<std::string> runPrivileged(const Step& step) {
  std::vector<std::string> argv = step.argv;
  const bool root = ::geteuid() == 0;
  if (!root) {
    if (!onPath("sudo"))
      return base::makeError(std::errc::operation_not_permitted,
                             "{} needs root: burrow runs as uid {} and sudo is not installed; run "
                             "it as root",
                             step.what, ::geteuid());
    argv.insert(argv.begin(), {"sudo", "-n", "--"});
  }
  ASSIGN_OR_RETURN(Output o, runCommand(argv, step.input));
  if (WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0) return o.out;
  const std::string why = firstLine(o.err);
  if (!root && o.err.rfind("sudo:", 0) == 0)
    return base::makeError(std::errc::operation_not_permitted,
                           "{} needs root: burrow runs as uid {} and `sudo -n {}` was refused "
                           "({}); run it as root, or allow that command without a password in "
                           "sudoers",
                           step.what, ::geteuid(), joined(step.argv), why);
  return base::invalid("{} failed: `{}` exited with status {}{}{}", step.what, joined(step.argv),
                       WIFEXITED(o.status) ? WEXITSTATUS(o.status) : 128 + WTERMSIG(o.status),
                       why.empty() ? "" : ": ", why);
}

namespace {

base::Result<void> signalPid(pid_t pid, const char* sig, const std::string& what) {
  RETURN_IF_ERROR(runPrivileged({what, {"kill", sig, std::to_string(pid)}, ""}));
  return {};
}

// Stops a running supervisor of NAME (and with it the service) and waits until it is gone.
base::Result<void> stopSupervisor(const std::string& name, const std::string& state_dir) {
  pid_t pid = runningPid(pidFile(state_dir, name, true));
  if (pid == 0) return {};
  RETURN_IF_ERROR(signalPid(pid, "-TERM", "stop " + name));
  // Its pidfile goes once the service has ended; then the supervisor itself has to.
  auto running = [&] {
    return runningPid(pidFile(state_dir, name, true)) == pid || base::processRunning(pid);
  };
  for (int i = 0; i < 400 && running(); ++i) ::usleep(100 * 1000);
  if (running()) return base::makeError(std::errc::timed_out, "{} did not stop within 40 s", name);
  return {};
}

// Starts `burrow service supervise` detached, as the service user, and waits for the service.
base::Result<std::string> startSupervisor(const Service& s) {
  std::vector<std::string> argv = {"runuser", "-u",          s.user,      "--",        "setsid",
                                   "-f",      s.burrow,      "service",   "supervise", "--name",
                                   s.name,    "--state-dir", s.state_dir, "--"};
  argv.insert(argv.end(), s.command.begin(), s.command.end());
  RETURN_IF_ERROR(runPrivileged({"start " + s.name, argv, ""}));
  for (int i = 0; i < 100; ++i) {
    pid_t sup = runningPid(pidFile(s.state_dir, s.name, true));
    auto svc = readStateFile(pidFile(s.state_dir, s.name, false));
    if (sup && svc)
      return fmt::format("started {} (burrow's supervisor pid {}, service pid {})", s.name, sup,
                         std::string(base::trim(*svc)));
    ::usleep(50 * 1000);
  }
  return base::makeError(std::errc::timed_out, "{} did not start within 5 s; see {}/{}.log", s.name,
                         s.state_dir, s.name);
}

}  // namespace

std::string defaultStateDir() {
  if (::geteuid() == 0) return "/var/lib/burrow";
  const char* xdg = std::getenv("XDG_STATE_HOME");
  if (xdg && xdg[0] == '/')
    return std::string(xdg) + "/burrow";  // the XDG spec ignores a relative one
  const char* home = std::getenv("HOME");
  if (home && home[0] == '/') return std::string(home) + "/.local/state/burrow";
  if (struct passwd* pw = ::getpwuid(::geteuid()))
    return std::string(pw->pw_dir) + "/.local/state/burrow";
  return "/var/lib/burrow";
}

base::Result<void> reexecAsRoot(const std::string& what, const std::vector<std::string>& argv) {
  if (::geteuid() == 0) return {};
  std::vector<std::string> probe = {"sudo", "-n", "-l", "--"};
  probe.insert(probe.end(), argv.begin(), argv.end());
  auto refused = [&](const std::string& why) {
    return base::makeError(std::errc::operation_not_permitted,
                           "{} needs root: burrow runs as uid {} and {}; run it as root, or allow "
                           "that command without a password in sudoers",
                           what, ::geteuid(), why);
  };
  if (!onPath("sudo")) return refused("sudo is not installed");
  ASSIGN_OR_RETURN(Output o, runCommand(probe, ""));
  if (!WIFEXITED(o.status) || WEXITSTATUS(o.status) != 0)
    return refused(fmt::format("`sudo -n {}` was refused ({})", joined(argv),
                               firstLine(o.err.empty() ? "not allowed" : o.err)));
  std::vector<std::string> full = {"sudo", "-n", "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  std::vector<char*> args;
  for (auto& a : full) args.push_back(a.data());
  args.push_back(nullptr);
  ::execvp("sudo", args.data());
  return base::sysError("run sudo");
}

base::Result<Init> parseInit(std::string_view t) {
  if (t == "auto") return Init::Auto;
  if (t == "systemd") return Init::Systemd;
  if (t == "openrc") return Init::OpenRC;
  if (t == "none") return Init::None;
  return base::invalid("--init {}: expected auto, systemd, openrc or none", t);
}

const char* initName(Init i) {
  switch (i) {
    case Init::Auto:
      return "auto";
    case Init::Systemd:
      return "systemd";
    case Init::OpenRC:
      return "openrc";
    case Init::None:
      return "none";
  }
  return "?";
}

std::pair<Init, std::string> detectInit() {
  std::string comm = "unknown";
  if (auto c = base::readFile("/proc/1/comm", 256)) comm = std::string(base::trim(*c));
  if (comm == "systemd" && exists("/run/systemd/system"))
    return {Init::Systemd, "PID 1 is systemd"};
  if (exists("/run/openrc/softlevel") && onPath("openrc-run"))
    return {Init::OpenRC, fmt::format("OpenRC is running (PID 1 is {})", comm)};
  return {Init::None, fmt::format("PID 1 is {}, neither systemd nor OpenRC", comm)};
}

std::string unitPath(Init init, const std::string& name, const std::string& state_dir) {
  if (init == Init::None) return state_dir + "/" + name + ".none";
  return init == Init::OpenRC ? "/etc/init.d/" + name : "/etc/systemd/system/" + name + ".service";
}

std::string systemdUnit(const Service& s, const std::vector<std::string>& created) {
  std::vector<std::string> words = {systemdWord(s.burrow)};
  for (const auto& a : s.command) words.push_back(systemdWord(a));
  const bool low_port = bindsLowPort(s);
  std::string u = header(s, created);
  u += fmt::format(
      "[Unit]\nDescription={}\nWants=network-online.target\nAfter=network-online.target\n\n",
      describe(s));
  u += "[Service]\nType=simple\n";
  u += fmt::format("ExecStart={}\nExecReload=/bin/kill -HUP $MAINPID\n", fmt::join(words, " "));
  u += "Restart=on-failure\nRestartSec=5s\n";
  u += fmt::format("User={}\nGroup={}\nReadWritePaths={}\n", s.user, s.user, s.state_dir);
  // Seed 001's profile. Only the edge on a port below 1024 keeps one capability, and then no
  // user namespace of its own.
  if (low_port)
    u += "AmbientCapabilities=CAP_NET_BIND_SERVICE\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n";
  else
    u += "AmbientCapabilities=\nCapabilityBoundingSet=\nPrivateUsers=yes\n";
  u += "UMask=0077\nKeyringMode=private\nNoNewPrivileges=yes\n"
       "ProtectSystem=strict\nProtectHome=yes\nPrivateTmp=yes\nPrivateMounts=yes\n"
       "PrivateDevices=yes\nDevicePolicy=closed\nProcSubset=pid\nProtectProc=invisible\n"
       "ProtectKernelTunables=yes\nProtectKernelModules=yes\nProtectKernelLogs=yes\n"
       "ProtectControlGroups=yes\nProtectHostname=yes\nProtectClock=yes\n"
       "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\nRestrictNamespaces=yes\n"
       "RestrictRealtime=yes\nRestrictSUIDSGID=yes\nLockPersonality=yes\n"
       "MemoryDenyWriteExecute=yes\nRemoveIPC=yes\nSystemCallArchitectures=native\n"
       "SystemCallFilter=@system-service\nSystemCallFilter=~@privileged @resources\n"
       "SystemCallErrorNumber=EPERM\n\n";
  u += "[Install]\nWantedBy=multi-user.target\n";
  return u;
}

std::string openrcScript(const Service& s, const std::vector<std::string>& created) {
  std::vector<std::string> args;
  for (const auto& a : s.command) args.push_back(shellWord(a));
  std::string h = header(s, created);
  std::string out = "#!/sbin/openrc-run\n" + h;
  out += fmt::format("description={}\n", shellWord(describe(s)));
  out += "supervisor=supervise-daemon\n";
  out +=
      fmt::format("command={}\ncommand_args=\"{}\"\n", shellWord(s.burrow), fmt::join(args, " "));
  out += fmt::format("command_user={}\n", shellWord(s.user + ":" + s.user));
  out += fmt::format("pidfile={}\n", shellWord(s.state_dir + "/" + s.name + ".pid"));
  out +=
      fmt::format("output_log={}\nerror_log={}\n", shellWord(s.state_dir + "/" + s.name + ".log"),
                  shellWord(s.state_dir + "/" + s.name + ".log"));
  out += "respawn_delay=5\nrespawn_max=0\n";
  out += "extra_started_commands=\"reload\"\n\n";
  out += "depend() {\n\tneed net\n}\n\n";
  out +=
      "reload() {\n\tebegin \"Reloading ${RC_SVCNAME}\"\n"
      "\tsupervise-daemon \"${RC_SVCNAME}\" --signal HUP\n\teend $?\n}\n";
  return out;
}

base::Result<std::vector<std::string>> install(const Service& in, Init init) {
  Service s = in;
  std::vector<std::string> lines;
  std::string picked_because;
  if (init == Init::Auto) {
    auto [picked, why] = detectInit();
    init = picked;
    picked_because = fmt::format(" (auto picked it: {})", why);
    lines.push_back(fmt::format("init: {}{}", initName(init), picked_because));
  }
  if (!validName(s.name)) return base::invalid("--name {}: use letters, digits, - and _", s.name);
  if (!validName(s.user)) return base::invalid("--user {}: use letters, digits, - and _", s.user);
  if (s.state_dir.empty() || s.state_dir.front() != '/' ||
      s.state_dir.find_first_of("\n\r") != std::string::npos)
    return base::invalid("--state-dir {}: give an absolute path", s.state_dir);
  if (s.command.empty() || (s.command[0] != "edge" && s.command[0] != "tunnel"))
    return base::invalid(
        "service install runs `burrow edge` or `burrow tunnel run`: give it "
        "after --, e.g. -- tunnel run --config FILE --token-file FILE");
  if (s.command[0] == "tunnel" &&
      std::find(s.command.begin(), s.command.end(), "--token-file") == s.command.end())
    return base::invalid(
        "a connector service takes its token from a file: add --token-file "
        "FILE to the command");

  // The unit hides these from the service (PrivateTmp=, ProtectHome=): a burrow there could
  // not be started by it.
  for (std::string_view hidden : {"/tmp/", "/var/tmp/", "/home/", "/root/", "/run/user/"})
    if (init == Init::Systemd && s.burrow.starts_with(hidden))
      return base::invalid(
          "{} is under {}, which the unit's PrivateTmp=/ProtectHome= hide from the service: "
          "install burrow elsewhere (e.g. /usr/local/bin) and run that one",
          s.burrow, hidden.substr(0, hidden.size() - 1));
  // The service is given its paths: without --state-dir, the edge and the connector would pick
  // one from the identity they run as.
  const size_t verb = s.command[0] == "tunnel" && s.command.size() > 1 ? 2 : 1;
  if (std::none_of(s.command.begin(), s.command.end(),
                   [](auto& a) { return a == "--state-dir" || a.starts_with("--state-dir="); }))
    s.command.insert(s.command.begin() + verb, {"--state-dir", s.state_dir});
  const std::string path = unitPath(init, s.name, s.state_dir);
  ASSIGN_OR_RETURN(std::vector<std::string> created, recordedCreations(path));
  const bool reinstall = exists(path);
  base::Undo undo;
  if (::getpwnam(s.user.c_str()) == nullptr) {
    RETURN_IF_ERROR(
        runPrivileged({fmt::format("create the service user {}", s.user),
                       {"useradd", "--system", "--user-group", "--no-create-home", "--home-dir",
                        s.state_dir, "--shell", "/usr/sbin/nologin", s.user},
                       ""}));
    created.push_back("user=" + s.user);
    undo.add([u = s.user] { (void)runPrivileged({"remove user " + u, {"userdel", u}, ""}); });
    lines.push_back(fmt::format("created system user {}", s.user));
  }
  if (!exists(s.state_dir)) {
    created.push_back("state-dir=" + s.state_dir);
    undo.add([d = s.state_dir] { (void)runPrivileged({"remove " + d, {"rmdir", d}, ""}); });
  }
  RETURN_IF_ERROR(
      runPrivileged({fmt::format("make {} the service's own (0700)", s.state_dir),
                     {"install", "-d", "-m", "0700", "-o", s.user, "-g", s.user, s.state_dir},
                     ""}));
  std::sort(created.begin(), created.end());
  created.erase(std::unique(created.begin(), created.end()), created.end());
  const bool systemd = init == Init::Systemd;
  std::string text = systemd                ? systemdUnit(s, created)
                     : init == Init::OpenRC ? openrcScript(s, created)
                                            : noneRecord(s, created);
  std::vector<std::string> write = {"install", "-D", "-m", systemd ? "0644" : "0755"};
  if (init == Init::None) write = {"install", "-m", "0600", "-o", s.user, "-g", s.user};
  write.insert(write.end(), {"/dev/stdin", path});
  RETURN_IF_ERROR(runPrivileged({fmt::format("write {}", path), write, text}));
  undo.keep();
  lines.push_back(fmt::format("{} {}", reinstall ? "rewrote" : "wrote", path));
  if (init == Init::None) {
    RETURN_IF_ERROR(stopSupervisor(s.name, s.state_dir));
    ASSIGN_OR_RETURN(std::string started, startSupervisor(s));
    lines.push_back(started);
    return lines;
  }

  auto [running, why] = detectInit();
  if (running != init) {
    lines.push_back(
        fmt::format("not started: {}; start it with {} once it runs there", why,
                    systemd ? "systemctl enable --now " + s.name
                            : "rc-update add " + s.name + " && rc-service " + s.name + " start"));
    return lines;
  }
  if (systemd) {
    RETURN_IF_ERROR(runPrivileged({"reload systemd", {"systemctl", "daemon-reload"}, ""}));
    RETURN_IF_ERROR(runPrivileged(
        {"start " + s.name, {"systemctl", "enable", "--now", s.name + ".service"}, ""}));
    if (reinstall)
      RETURN_IF_ERROR(runPrivileged({"restart " + s.name, {"systemctl", "restart", s.name}, ""}));
  } else {
    RETURN_IF_ERROR(runPrivileged({"enable " + s.name, {"rc-update", "add", s.name}, ""}));
    RETURN_IF_ERROR(runPrivileged({"start " + s.name, {"rc-service", s.name, "restart"}, ""}));
  }
  lines.push_back(fmt::format("started {}", s.name));
  return lines;
}

namespace {

base::Result<void> notInstalled(const std::string& name, const std::string& state_dir) {
  return base::makeError(std::errc::no_such_file_or_directory,
                         "no service {} installed by burrow (looked for {}, {} and {})", name,
                         unitPath(Init::Systemd, name, state_dir),
                         unitPath(Init::OpenRC, name, state_dir),
                         unitPath(Init::None, name, state_dir));
}

}  // namespace

base::Result<std::vector<std::string>> uninstall(const std::string& name,
                                                 const std::string& state_dir) {
  if (!validName(name)) return base::invalid("--name {}: use letters, digits, - and _", name);
  std::vector<std::string> lines;
  auto [running, why] = detectInit();
  bool found = false;
  for (Init init : {Init::Systemd, Init::OpenRC, Init::None}) {
    const std::string path = unitPath(init, name, state_dir);
    if (!exists(path)) continue;
    ASSIGN_OR_RETURN(std::vector<std::string> created, recordedCreations(path));
    found = true;
    if (running == init && init == Init::Systemd)
      RETURN_IF_ERROR(runPrivileged({"stop " + name, {"systemctl", "disable", "--now", name}, ""}));
    if (running == init && init == Init::OpenRC) {
      RETURN_IF_ERROR(runPrivileged({"stop " + name, {"rc-service", name, "stop"}, ""}));
      RETURN_IF_ERROR(runPrivileged({"disable " + name, {"rc-update", "del", name}, ""}));
    }
    std::vector<std::string> files = {path};
    if (init == Init::None) {
      RETURN_IF_ERROR(stopSupervisor(name, state_dir));
      for (const char* f : {".pid", ".supervisor.pid", ".log", ".log.1"})
        files.push_back(state_dir + "/" + name + f);
    }
    if (init == Init::OpenRC) {  // the pidfile and log the script named
      std::string dir = recordedStateDir(path);
      if (dir.empty()) dir = state_dir;
      for (const char* f : {".pid", ".log"}) files.push_back(dir + "/" + name + f);
    }
    std::vector<std::string> rm = {"rm", "-f", "--"};
    rm.insert(rm.end(), files.begin(), files.end());
    RETURN_IF_ERROR(runPrivileged({"remove " + path, rm, ""}));
    lines.push_back("removed " + path);
    if (running == init && init == Init::Systemd)
      RETURN_IF_ERROR(runPrivileged({"reload systemd", {"systemctl", "daemon-reload"}, ""}));
    // The state directory ("state-dir=") before the user ("user=") who owns it.
    std::sort(created.begin(), created.end());
    for (const auto& c : created) {
      auto eq = c.find('=');
      std::string kind = c.substr(0, eq), value = eq == std::string::npos ? "" : c.substr(eq + 1);
      if (kind == "state-dir") {
        if (!exists(value))
          lines.push_back(fmt::format("{} was already gone", value));
        else if (auto r = runPrivileged({"remove " + value, {"rmdir", "--", value}, ""}))
          lines.push_back("removed " + value);
        else
          lines.push_back(fmt::format("kept {}: not empty (its files are yours)", value));
      } else if (kind == "user") {
        RETURN_IF_ERROR(runPrivileged({"remove user " + value, {"userdel", value}, ""}));
        lines.push_back("removed system user " + value);
      }
    }
  }
  if (!found) RETURN_IF_ERROR(notInstalled(name, state_dir));
  return lines;
}

base::Result<std::vector<std::string>> control(const std::string& name, const std::string& action,
                                               const std::string& state_dir) {
  if (!validName(name)) return base::invalid("--name {}: use letters, digits, - and _", name);
  auto [running, why] = detectInit();
  std::vector<std::string> lines;
  for (Init init : {Init::Systemd, Init::OpenRC, Init::None}) {
    const std::string path = unitPath(init, name, state_dir);
    if (!exists(path)) continue;
    RETURN_IF_ERROR(recordedCreations(path));
    if (init == Init::None) {
      pid_t sup = runningPid(pidFile(state_dir, name, true));
      if (action == "status") {
        auto svc = readStateFile(pidFile(state_dir, name, false));
        lines.push_back(fmt::format("{}: supervised by burrow, {}", name, path));
        lines.push_back(sup ? fmt::format("running: supervisor pid {}, service pid {}", sup,
                                          svc ? std::string(base::trim(*svc)) : "?")
                            : "not running");
        continue;
      }
      if (!sup) return base::makeError(std::errc::no_such_process, "{} is not running", name);
      RETURN_IF_ERROR(signalPid(sup, action == "restart" ? "-USR1" : "-HUP", action + " " + name));
      lines.push_back(fmt::format("{}: {} sent", name, action));
      continue;
    }
    if (action == "status") {
      lines.push_back(fmt::format("{}: {} service, {}", name, initName(init), path));
      if (running != init) {
        lines.push_back(fmt::format("not running under {} here: {}", initName(init), why));
        continue;
      }
      std::vector<std::string> argv = init == Init::Systemd
                                          ? std::vector<std::string>{"systemctl", "is-active", name}
                                          : std::vector<std::string>{"rc-service", name, "status"};
      auto r = runCommand(argv, "");
      lines.push_back(r ? firstLine(r->out + r->err) : r.error().message());
      continue;
    }
    if (running != init)
      return base::makeError(std::errc::not_supported, "cannot {} {}: {}", action, name, why);
    std::vector<std::string> argv = init == Init::Systemd
                                        ? std::vector<std::string>{"systemctl", action, name}
                                        : std::vector<std::string>{"rc-service", name, action};
    RETURN_IF_ERROR(runPrivileged({action + " " + name, argv, ""}));
    lines.push_back(fmt::format("{}: {} done", name, action));
  }
  if (lines.empty()) RETURN_IF_ERROR(notInstalled(name, state_dir));
  return lines;
}

namespace {

constexpr off_t kLogRotateBytes = 10 << 20;

// The log on stdout and stderr; rotated to NAME.log.1 once it passes 10 MiB.
void openLog(const std::string& log) {
  struct stat st {};
  if (::stat(log.c_str(), &st) == 0 && st.st_size > kLogRotateBytes)
    ::rename(log.c_str(), (log + ".1").c_str());
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  ::dup2(fd, 1);
  ::dup2(fd, 2);
  ::close(fd);
}

void note(const std::string& name, const std::string& what) {
  std::string line = fmt::format("burrow supervise: {}: {}\n", name, what);
  (void)!::write(2, line.data(), line.size());
}

}  // namespace

int runSupervisor(const std::string& name, const std::string& state_dir,
                  const std::vector<std::string>& command, const std::string& burrow) {
  using clock = std::chrono::steady_clock;
  const std::string log = fmt::format("{}/{}.log", state_dir, name);
  int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null >= 0) ::dup2(null, 0);
  openLog(log);
  if (!base::writeFileAtomic(pidFile(state_dir, name, true), fmt::format("{}\n", ::getpid()), 0600))
    return 1;
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&mask, sig);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);
  base::UniqueFd sigs(::signalfd(-1, &mask, SFD_CLOEXEC));
  std::vector<std::string> argv_storage = {burrow};
  argv_storage.insert(argv_storage.end(), command.begin(), command.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);

  auto backoff = std::chrono::seconds(1);
  bool stopping = false;
  while (!stopping) {
    openLog(log);
    pid_t child = -1;
    if (int rc = ::posix_spawn(&child, burrow.c_str(), nullptr, &attr, argv.data(), environ)) {
      note(name, fmt::format("cannot start {}: {}", burrow, std::strerror(rc)));
      break;
    }
    (void)base::writeFileAtomic(pidFile(state_dir, name, false), fmt::format("{}\n", child), 0600);
    note(name, fmt::format("started pid {}", child));
    const auto started = clock::now();
    bool restart_now = false;
    int status = 0;
    // Until the service ends: pass signals on.
    for (bool ended = false; !ended;) {
      signalfd_siginfo si{};
      if (::read(sigs.get(), &si, sizeof si) != sizeof si) continue;
      switch (si.ssi_signo) {
        case SIGCHLD:
          ended = ::waitpid(child, &status, WNOHANG) == child;
          break;
        case SIGTERM:
        case SIGINT:
          stopping = true;
          ::kill(child, SIGTERM);
          break;
        case SIGUSR1:
          restart_now = true;
          ::kill(child, SIGTERM);
          break;
        default:
          ::kill(child, static_cast<int>(si.ssi_signo));
      }
    }
    const bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    note(name,
         fmt::format("pid {} ended ({} {})", child, WIFEXITED(status) ? "exit status" : "signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status)));
    if (stopping) break;
    if (restart_now) {
      backoff = std::chrono::seconds(1);
      continue;
    }
    if (!failed) break;  // Restart=on-failure: a clean exit ends the service
    if (clock::now() - started > std::chrono::minutes(1)) backoff = std::chrono::seconds(1);
    note(name, fmt::format("restarting in {} s", backoff.count()));
    // Wait out the backoff; a stop request cuts it short.
    pollfd pfd{sigs.get(), POLLIN, 0};
    auto until = clock::now() + backoff;
    while (!stopping && clock::now() < until) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now());
      if (::poll(&pfd, 1, static_cast<int>(left.count()) + 1) <= 0) continue;
      signalfd_siginfo si{};
      if (::read(sigs.get(), &si, sizeof si) == sizeof si &&
          (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT))
        stopping = true;
      if (si.ssi_signo == SIGUSR1) break;
    }
    backoff = std::min(backoff * 2, std::chrono::seconds(60));
  }
  posix_spawnattr_destroy(&attr);
  ::unlink(pidFile(state_dir, name, false).c_str());
  ::unlink(pidFile(state_dir, name, true).c_str());
  note(name, "supervisor stopped");
  return 0;
}

}  // namespace supervise
