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
#include <filesystem>
#include <functional>
#include <map>
#include <optional>

#include "base/base.h"
#include "base/undo.h"

extern char** environ;

namespace supervise {
namespace {

constexpr const char* kHeader = "# Written by burrow service install";
constexpr const char* kCreated = "# burrow-created:";
constexpr const char* kStateDir = "# burrow-state-dir:";
constexpr const char* kInit = "# burrow-init:";
constexpr const char* kUser = "# burrow-user:";
constexpr const char* kCommand = "# burrow-command:";
// Root's own: a service's state directory may neither hold it nor lie in it.
constexpr const char* kRecords = "/var/lib/burrow/services";
// A service that has not stayed up this long after install started it was not started.
constexpr auto kSettle = std::chrono::seconds(2);
constexpr int kLogLines = 5;

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

bool runsStack(const Service& s) { return !s.command.empty() && s.command[0] == "up"; }

std::string describe(const Service& s) {
  if (runsStack(s)) return "burrow stack";
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
    auto hp = base::splitHostPort(s.command[i + 1]);
    if (hp && hp->port < 1024) return true;
  }
  return false;
}

std::string header(const Service& s, const std::vector<std::string>& created) {
  return fmt::format("{}; `burrow service uninstall --name {}` removes it.\n{} {}\n{} {}\n",
                     kHeader, s.name, kCreated, fmt::join(created, " "), kStateDir, s.state_dir);
}

// The value of a "# burrow-KEY: value" line of a file install wrote, or "".
std::string headerField(std::string_view text, std::string_view key) {
  auto at = text.find(key);
  if (at == std::string_view::npos) return "";
  std::string_view line = text.substr(at + key.size());
  return std::string(base::trim(line.substr(0, line.find('\n'))));
}

std::vector<std::string> splitWords(std::string_view line) {
  std::vector<std::string> out;
  while (!line.empty()) {
    line = base::trim(line);
    auto sp = line.find(' ');
    if (!line.empty()) out.emplace_back(line.substr(0, sp));
    if (sp == std::string_view::npos) break;
    line.remove_prefix(sp);
  }
  return out;
}

// Reads what an earlier install recorded in the file's header; an error when a file is there
// that burrow did not write.
base::Result<std::vector<std::string>> recordedCreations(const std::string& path) {
  if (!exists(path)) return std::vector<std::string>{};
  std::string text = readStateFile(path, 1 << 20).value_or("");
  if (text.find(kHeader) == std::string::npos)
    return base::makeError(std::errc::file_exists, "{} exists and was not written by burrow", path);
  return splitWords(headerField(text, kCreated));
}

// The record of an install: what uninstall, status, restart and reload act on.
std::string recordText(const Service& s, Init init, const std::vector<std::string>& created) {
  return header(s, created) + fmt::format("{} {}\n{} {}\n{} {} {}\n", kInit, initName(init), kUser,
                                          s.user, kCommand, s.burrow, fmt::join(s.command, " "));
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

// What the supervisor of an --init none service tells `status` and install's settle check, in
// <state-dir>/NAME.status: one key=value a line, rewritten whole at every change.
struct RunState {
  long runs = 0;          // how often the service was started
  long pid = 0;           // the service's pid; 0 while none runs
  long started = 0;       // when the current (or last) run started, in Unix seconds
  long failures = 0;      // runs in a row that failed within a minute of starting
  std::string last_exit;  // "exit status 1", "signal 9 (Killed)"; empty before the first end
  long last_exit_at = 0;  // Unix seconds
  long next_start = 0;    // while it waits out the back-off, when it starts again
};

std::string statusFile(const std::string& state_dir, const std::string& name) {
  return fmt::format("{}/{}.status", state_dir, name);
}

std::string formatRunState(const RunState& r) {
  return fmt::format(
      "runs={}\npid={}\nstarted={}\nfailures={}\nlast-exit={}\nlast-exit-at={}\nnext-start={}\n",
      r.runs, r.pid, r.started, r.failures, r.last_exit, r.last_exit_at, r.next_start);
}

RunState parseRunState(std::string_view text) {
  RunState r;
  while (!text.empty()) {
    std::string_view line = text.substr(0, text.find('\n'));
    text.remove_prefix(std::min(text.size(), line.size() + 1));
    auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = line.substr(0, eq);
    std::string value(line.substr(eq + 1));
    long n = std::atol(value.c_str());
    if (key == "runs") r.runs = n;
    if (key == "pid") r.pid = n;
    if (key == "started") r.started = n;
    if (key == "failures") r.failures = n;
    if (key == "last-exit") r.last_exit = value;
    if (key == "last-exit-at") r.last_exit_at = n;
    if (key == "next-start") r.next_start = n;
  }
  return r;
}

long unixNow() {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
}

std::string duration(long s) {
  if (s < 0) s = 0;
  if (s < 60) return fmt::format("{} s", s);
  if (s < 3600) return fmt::format("{} min {} s", s / 60, s % 60);
  return fmt::format("{} h {} min", s / 3600, s % 3600 / 60);
}

std::string exitText(int status) {
  if (WIFEXITED(status)) return fmt::format("exit status {}", WEXITSTATUS(status));
  return fmt::format("signal {} ({})", WTERMSIG(status), ::strsignal(WTERMSIG(status)));
}

// The last `n` lines of the service's log, or none when it cannot be read.
std::vector<std::string> lastLines(const std::string& file, int n) {
  std::string text;
  base::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd) {
    struct stat st {};
    if (::fstat(fd.get(), &st) == 0) {
      const off_t from = std::max<off_t>(0, st.st_size - (16 << 10));
      text.resize(static_cast<size_t>(st.st_size - from));
      ssize_t got = ::pread(fd.get(), text.data(), text.size(), from);
      text.resize(got > 0 ? static_cast<size_t>(got) : 0);
    }
  } else if (errno == EACCES) {  // the service user's own log (0600)
    text = runPrivileged({"read " + file, {"tail", "-n", std::to_string(n), "--", file}, ""})
               .value_or("");
  }
  std::vector<std::string> lines;
  std::string_view rest = base::trim(text);
  while (!rest.empty() && static_cast<int>(lines.size()) < n) {
    auto nl = rest.rfind('\n');
    std::string_view line = nl == std::string_view::npos ? rest : rest.substr(nl + 1);
    lines.emplace(lines.begin(), line);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(0, nl);
  }
  return lines;
}

// "last lines of FILE:" and the lines, indented; nothing when the log is empty.
std::vector<std::string> logTail(const std::string& file, const std::vector<std::string>& lines) {
  if (lines.empty()) return {};
  std::vector<std::string> out = {fmt::format("last lines of {}:", file)};
  for (const auto& l : lines) out.push_back("  " + l);
  return out;
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

// Starts `burrow service supervise` detached, as the service user, and waits until it has
// started the service once.
base::Result<void> startSupervisor(const Service& s) {
  const std::string status = statusFile(s.state_dir, s.name);
  RETURN_IF_ERROR(runPrivileged({"remove " + status, {"rm", "-f", "--", status}, ""}));
  std::vector<std::string> argv = {"runuser", "-u",          s.user,      "--",        "setsid",
                                   "-f",      s.burrow,      "service",   "supervise", "--name",
                                   s.name,    "--state-dir", s.state_dir, "--"};
  argv.insert(argv.end(), s.command.begin(), s.command.end());
  RETURN_IF_ERROR(runPrivileged({"start " + s.name, argv, ""}));
  for (int i = 0; i < 100; ++i) {
    if (parseRunState(readStateFile(status, 4096).value_or("")).runs > 0) return {};
    ::usleep(50 * 1000);
  }
  return base::makeError(std::errc::timed_out, "burrow's supervisor did not start it within 5 s");
}

// Waits kSettle and says whether the service stayed up all along: "" when it did, otherwise how
// it did not, for the operator to read.
std::string settleNone(const Service& s) {
  const auto until = std::chrono::steady_clock::now() + kSettle;
  for (;;) {
    RunState r = parseRunState(readStateFile(statusFile(s.state_dir, s.name), 4096).value_or(""));
    if (r.runs > 1 || r.pid == 0 || runningPid(pidFile(s.state_dir, s.name, true)) == 0)
      return fmt::format(
          "it ended within {} s of starting ({}){}", kSettle.count(),
          r.last_exit.empty() ? "its supervisor is gone" : r.last_exit,
          r.runs > 1 ? fmt::format(", and again after {} restarts", r.runs - 1) : "");
    if (std::chrono::steady_clock::now() >= until) return "";
    ::usleep(100 * 1000);
  }
}

// systemctl show's properties of the unit NAME.
std::map<std::string, std::string> systemdShow(const std::string& name) {
  std::map<std::string, std::string> out;
  auto r = runCommand({"systemctl", "show", "-p", "ActiveState", "-p", "SubState", "-p", "MainPID",
                       "-p", "NRestarts", "-p", "ExecMainStatus", name},
                      "");
  std::string_view text = r ? std::string_view(r->out) : std::string_view();
  while (!text.empty()) {
    std::string_view line = text.substr(0, text.find('\n'));
    text.remove_prefix(std::min(text.size(), line.size() + 1));
    auto eq = line.find('=');
    if (eq != std::string_view::npos) out[std::string(line.substr(0, eq))] = line.substr(eq + 1);
  }
  return out;
}

std::string settleSystemd(const std::string& name) {
  const auto first = systemdShow(name);
  const auto until = std::chrono::steady_clock::now() + kSettle;
  for (;;) {
    auto now = systemdShow(name);
    if (now["ActiveState"] != "active" || now["SubState"] != "running" ||
        now["MainPID"] != first.at("MainPID") || now["MainPID"] == "0")
      return fmt::format("within {} s of starting, systemd reports it {}/{} (exit status {})",
                         kSettle.count(), now["ActiveState"], now["SubState"],
                         now["ExecMainStatus"]);
    if (std::chrono::steady_clock::now() >= until) return "";
    ::usleep(100 * 1000);
  }
}

// The first process whose parent is `parent`, or 0 (the 4th field of proc_pid_stat(5)).
pid_t childOf(pid_t parent) {
  if (parent <= 0) return 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid = entry.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    auto stat = base::readFile("/proc/" + pid + "/stat", 4096);
    if (!stat) continue;
    std::string_view rest(*stat);
    rest.remove_prefix(std::min(rest.size(), rest.rfind(')') + 1));  // after "pid (comm)"
    int ppid = 0;
    char state = 0;
    if (std::sscanf(std::string(rest).c_str(), " %c %d", &state, &ppid) == 2 && ppid == parent &&
        state != 'Z')
      return static_cast<pid_t>(std::atoi(pid.c_str()));
  }
  return 0;
}

// OpenRC's supervise-daemon keeps its own pid in the script's pidfile; the service is its child.
std::string settleOpenrc(const std::string& name, const std::string& state_dir) {
  auto service = [&] {
    auto text = readStateFile(fmt::format("{}/{}.pid", state_dir, name));
    return childOf(text ? static_cast<pid_t>(std::atoi(text->c_str())) : 0);
  };
  const auto until = std::chrono::steady_clock::now() + kSettle;
  pid_t first = 0;
  for (int i = 0; i < 20 && !first; ++i, ::usleep(50 * 1000)) first = service();
  for (;;) {
    if (!first || service() != first)
      return fmt::format("it ended within {} s of starting (supervise-daemon starts it again)",
                         kSettle.count());
    if (std::chrono::steady_clock::now() >= until) return "";
    ::usleep(100 * 1000);
  }
}

std::vector<std::string> journalLines(const std::string& name) {
  auto r = runCommand(
      {"journalctl", "--no-pager", "-o", "cat", "-n", std::to_string(kLogLines), "-u", name}, "");
  std::vector<std::string> out;
  std::string_view text = r ? base::trim(r->out) : std::string_view();
  while (!text.empty()) {
    std::string_view line = text.substr(0, text.find('\n'));
    out.emplace_back(line);
    text.remove_prefix(std::min(text.size(), line.size() + 1));
  }
  return out;
}

// What install recorded about a service.
struct Installed {
  Init init = Init::None;
  std::string record;     // its record; "" for a unit written before records were kept
  std::string file;       // the unit or script; for --init none, the record itself
  std::string state_dir;  // "" when the file does not say
  std::string user;       // the service user, made by install or not
  std::vector<std::string> created;
};

// The user install made ("user=NAME" among the creations), or "".
std::string createdUser(const Installed& i) {
  for (const auto& c : i.created)
    if (c.starts_with("user=")) return c.substr(5);
  return "";
}

// What install recorded for NAME; nothing when it is not installed.
base::Result<std::optional<Installed>> findInstalled(const std::string& name) {
  Installed i;
  i.record = recordPath(name);
  if (exists(i.record)) {
    ASSIGN_OR_RETURN(i.created, recordedCreations(i.record));
    std::string text = readStateFile(i.record, 1 << 20).value_or("");
    auto init = parseInit(headerField(text, kInit));
    if (!init || *init == Init::Auto)
      return base::invalid("{}: no init recorded ('{}')", i.record, headerField(text, kInit));
    i.init = *init;
    i.file = unitPath(i.init, name);
    i.state_dir = headerField(text, kStateDir);
    i.user = headerField(text, kUser);
    return i;
  }
  // A unit or script written before installs were recorded: its header says the rest.
  i.record.clear();
  for (Init init : {Init::Systemd, Init::OpenRC}) {
    i.file = unitPath(init, name);
    if (!exists(i.file)) continue;
    ASSIGN_OR_RETURN(i.created, recordedCreations(i.file));
    i.init = init;
    i.state_dir = headerField(readStateFile(i.file, 1 << 20).value_or(""), kStateDir);
    i.user = createdUser(i);
    return i;
  }
  return std::nullopt;
}

base::Result<void> notInstalled(const std::string& name) {
  return base::makeError(std::errc::no_such_file_or_directory,
                         "no service {} installed by burrow (looked for {}, {} and {})", name,
                         recordPath(name), unitPath(Init::Systemd, name),
                         unitPath(Init::OpenRC, name));
}

// A state directory that uninstall may remove whole: absolute, below the root, no "..".
bool removable(const std::string& dir) {
  return dir.size() > 1 && dir.front() == '/' && dir.find("/..") == std::string::npos &&
         std::count(dir.begin(), dir.end(), '/') >= 2;
}

// Stops the service and removes what `i` records; see uninstall().
base::Result<std::vector<std::string>> removeInstalled(const std::string& name, const Installed& i,
                                                       bool keep_state) {
  std::vector<std::string> lines;
  auto [running, why] = detectInit();
  if (running == i.init && i.init == Init::Systemd)
    RETURN_IF_ERROR(runPrivileged({"stop " + name, {"systemctl", "disable", "--now", name}, ""}));
  if (running == i.init && i.init == Init::OpenRC) {
    RETURN_IF_ERROR(runPrivileged({"stop " + name, {"rc-service", name, "stop"}, ""}));
    RETURN_IF_ERROR(runPrivileged({"disable " + name, {"rc-update", "del", name}, ""}));
  }
  if (i.init == Init::None) RETURN_IF_ERROR(stopSupervisor(name, i.state_dir));
  if (i.init != Init::None && exists(i.file)) {
    RETURN_IF_ERROR(runPrivileged({"remove " + i.file, {"rm", "-f", "--", i.file}, ""}));
    lines.push_back("removed " + i.file);
    if (running == i.init && i.init == Init::Systemd)
      RETURN_IF_ERROR(runPrivileged({"reload systemd", {"systemctl", "daemon-reload"}, ""}));
  }
  const std::string user = createdUser(i);
  const std::string& dir = i.state_dir;
  if (!dir.empty() && exists(dir)) {
    if (!keep_state) {
      if (!removable(dir))
        return base::invalid("will not remove the state directory {}: give --keep-state", dir);
      RETURN_IF_ERROR(
          runPrivileged({"remove " + dir, {"rm", "-rf", "--one-file-system", "--", dir}, ""}));
      lines.push_back(fmt::format("removed {} and all it held (--keep-state keeps it)", dir));
    } else {
      std::vector<std::string> rm = {"rm", "-f", "--"};
      for (const char* f : {".pid", ".supervisor.pid", ".status"})
        rm.push_back(dir + "/" + name + f);
      RETURN_IF_ERROR(runPrivileged({"remove the pid files of " + name, rm, ""}));
      if (!user.empty()) {
        RETURN_IF_ERROR(runPrivileged(
            {"give " + dir + " to root", {"chown", "-R", "--", "root:root", dir}, ""}));
        lines.push_back(fmt::format("kept {}, now owned by root (its user goes)", dir));
      } else {
        lines.push_back(fmt::format("kept {}", dir));
      }
    }
  }
  if (!user.empty()) {
    RETURN_IF_ERROR(runPrivileged({"remove user " + user, {"userdel", user}, ""}));
    lines.push_back("removed system user " + user);
  }
  if (!i.record.empty()) {
    RETURN_IF_ERROR(runPrivileged({"remove " + i.record, {"rm", "-f", "--", i.record}, ""}));
    lines.push_back("removed " + i.record);
  }
  return lines;
}

// The status of a service burrow supervises (--init none).
std::vector<std::string> noneStatus(const std::string& name, const Installed& i) {
  std::vector<std::string> lines = {fmt::format(
      "{}: supervised by burrow (--init none), {}, state in {}", name, i.record, i.state_dir)};
  const pid_t sup = runningPid(pidFile(i.state_dir, name, true));
  const RunState r = parseRunState(readStateFile(statusFile(i.state_dir, name), 4096).value_or(""));
  const long now = unixNow();
  const std::string again =
      r.pid ? fmt::format("running again as pid {}, up {}", r.pid, duration(now - r.started))
            : fmt::format("burrow starts it again in {}", duration(r.next_start - now));
  if (!sup)
    lines.push_back(r.last_exit.empty() ? "not running"
                                        : fmt::format("not running: the service ended {} ago ({})",
                                                      duration(now - r.last_exit_at), r.last_exit));
  else if (r.failures >= 2 && !(r.pid && now - r.started >= 60))  // a minute up: recovered
    lines.push_back(fmt::format(
        "failing: the service exited {} times in a row, each within a minute of starting; {}",
        r.failures, again));
  else if (r.pid == 0)
    lines.push_back(fmt::format("restarting: the service exited; {}", again));
  else
    lines.push_back(fmt::format("running: supervisor pid {}, service pid {}, up {}", sup, r.pid,
                                duration(now - r.started)));
  if (!r.last_exit.empty())
    lines.push_back(fmt::format("restarts: {}; last exit: {}, {} ago", std::max(0L, r.runs - 1),
                                r.last_exit, duration(now - r.last_exit_at)));
  const std::string log = fmt::format("{}/{}.log", i.state_dir, name);
  for (auto& l : logTail(log, lastLines(log, kLogLines))) lines.push_back(std::move(l));
  return lines;
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

std::string recordPath(const std::string& name) { return fmt::format("{}/{}", kRecords, name); }

std::string unitPath(Init init, const std::string& name) {
  if (init == Init::None) return recordPath(name);
  return init == Init::OpenRC ? "/etc/init.d/" + name : "/etc/systemd/system/" + name + ".service";
}

std::string hardening(const Hardening& h) {
  // Only a service on a port below 1024 keeps one capability, and then no user namespace of
  // its own.
  std::string u = h.bind_low_ports ? "AmbientCapabilities=CAP_NET_BIND_SERVICE\n"
                                     "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n"
                                   : "AmbientCapabilities=\nCapabilityBoundingSet=\n";
  if (h.private_users) u += "PrivateUsers=yes\n";
  u += "UMask=0077\nKeyringMode=private\nNoNewPrivileges=yes\nProtectSystem=strict\n";
  u += "ProtectHome=yes\nPrivateTmp=yes\n";
  return u +
         "PrivateMounts=yes\n"
         "PrivateDevices=yes\nDevicePolicy=closed\nProcSubset=pid\nProtectProc=invisible\n"
         "ProtectKernelTunables=yes\nProtectKernelModules=yes\nProtectKernelLogs=yes\n"
         "ProtectControlGroups=yes\nProtectHostname=yes\nProtectClock=yes\n"
         "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\nRestrictNamespaces=yes\n"
         "RestrictRealtime=yes\nRestrictSUIDSGID=yes\nLockPersonality=yes\n"
         "MemoryDenyWriteExecute=yes\nRemoveIPC=yes\nSystemCallArchitectures=native\n"
         "SystemCallFilter=@system-service\nSystemCallFilter=~@privileged @resources\n"
         "SystemCallErrorNumber=EPERM\n";
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
  if (runsStack(s))
    // The stack makes namespaces, links and firewall rules and sandboxes each of its services
    // itself: its supervisor runs as root outside a sandbox, as systemd-nspawn@.service does.
    // SIGTERM goes to it alone, and it stops the services in order; what outlives the timeout
    // is killed.
    return u + "KillMode=mixed\nTimeoutStopSec=120s\n\n[Install]\nWantedBy=multi-user.target\n";
  u += fmt::format("User={}\nGroup={}\nReadWritePaths={}\n", s.user, s.user, s.state_dir);
  u += hardening({low_port, /*private_users=*/!low_port}) + "\n";
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
  if (runsStack(s)) out += "retry=\"TERM/120/KILL/5\"\n";  // the stack stops its services in order
  out += "extra_started_commands=\"reload\"\n\n";
  out += "depend() {\n\tneed net\n}\n\n";
  out +=
      "reload() {\n\tebegin \"Reloading ${RC_SVCNAME}\"\n"
      "\tsupervise-daemon \"${RC_SVCNAME}\" --signal HUP\n\teend $?\n}\n";
  return out;
}

namespace {

std::string stackHint(const Service& s) {
  return fmt::format("its services: burrow ps --state-dir {}", s.state_dir);
}

// `up` as a service: root's, in the foreground, its stack file named by an absolute path (the
// service does not start in the installer's directory).
base::Result<void> stackCommand(Service& s) {
  if (s.user != "root")
    return base::invalid(
        "--user {}: the stack's supervisor runs as root (it makes namespaces, links and firewall "
        "rules, and runs each service in its own sandbox as its User=): leave --user out",
        s.user);
  size_t file = 0;
  for (size_t i = 1; i < s.command.size(); ++i) {
    const std::string& a = s.command[i];
    if (a == "-d" || a == "--detach")
      return base::invalid(
          "{}: the init system keeps `burrow up` in the foreground and stops it with SIGTERM; "
          "leave {} out",
          a, a);
    if ((a == "-f" || a == "--file") && i + 1 < s.command.size()) file = ++i;
  }
  if (!file) {
    s.command.insert(s.command.end(), {"-f", "burrow.yaml"});
    file = s.command.size() - 1;
  }
  std::error_code ec;
  auto path = std::filesystem::absolute(s.command[file], ec);
  struct stat st {};
  if (ec || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return base::invalid("up -f {}: {}", path.string(),
                         ec ? ec.message() : std::strerror(errno ? errno : ENOENT));
  s.command[file] = path.lexically_normal().string();
  return {};
}

bool within(std::string_view path, std::string_view dir) {
  return path == dir || (path.starts_with(dir) && path.size() > dir.size() &&
                         (dir.back() == '/' || path[dir.size()] == '/'));
}

// The connector's token, read as the one who installs (through the privileged runner when this
// user may not read it).
base::Result<std::string> readToken(const std::string& file) {
  auto text = base::readFile(file, 64 << 10);
  if (!text && text.error().code == std::errc::permission_denied) {
    text = runPrivileged({"read the token " + file, {"cat", "--", file}, ""});
    RETURN_IF_ERROR(text);  // it names the step and why it could not be elevated
  }
  if (!text)
    return base::invalid(
        "--token-file {}: cannot read it ({}); create the tunnel first, e.g. `burrow edge tunnel "
        "create NAME > {}`",
        file, text.error().message(), file);
  if (base::trim(*text).empty()) return base::invalid("--token-file {} is empty", file);
  return *text;
}

}  // namespace

base::Result<std::vector<std::string>> install(const Service& in, Init init) {
  Service s = in;
  std::vector<std::string> lines;
  const std::string what = s.command.empty() ? "" : s.command[0];
  if (s.name.empty())
    s.name = what == "edge" ? "burrow-edge" : what == "up" ? "burrow-stack" : "burrow-tunnel";
  if (s.user.empty()) s.user = what == "up" ? "root" : s.name;
  if (init == Init::Auto) {
    auto [picked, why] = detectInit();
    init = picked;
    lines.push_back(fmt::format("init: {} (auto picked it: {})", initName(init), why));
  }
  if (!validName(s.name)) return base::invalid("--name {}: use letters, digits, - and _", s.name);
  if (!validName(s.user)) return base::invalid("--user {}: use letters, digits, - and _", s.user);
  if (s.state_dir.empty()) s.state_dir = fmt::format("/var/lib/burrow/{}", s.name);
  while (s.state_dir.size() > 1 && s.state_dir.back() == '/') s.state_dir.pop_back();
  if (!removable(s.state_dir) || s.state_dir.find_first_of("\n\r") != std::string::npos)
    return base::invalid(
        "--state-dir {}: give an absolute path two levels deep or more, without .. (uninstall "
        "removes it), e.g. /var/lib/burrow/{}",
        s.state_dir, s.name);
  if (within(s.state_dir, kRecords) || within(kRecords, s.state_dir))
    return base::invalid(
        "--state-dir {}: {} holds burrow's records of services, root's own; give the service a "
        "directory of its own, e.g. /var/lib/burrow/{}",
        s.state_dir, kRecords, s.name);
  if (what != "edge" && what != "tunnel" && what != "up")
    return base::invalid(
        "service install runs `burrow edge`, `burrow tunnel run` or `burrow up`: give it "
        "after --, e.g. -- tunnel run --config FILE --token-file FILE");
  if (runsStack(s)) RETURN_IF_ERROR(stackCommand(s));
  // The connector's token: copied into the state directory, the service user's own, so that a
  // token only its maker can read (`tunnel create > token`) serves the service as it is.
  size_t token_arg = 0;
  for (size_t i = 0; i < s.command.size(); ++i)
    if ((s.command[i] == "--token-file" && i + 1 < s.command.size()) ||
        s.command[i].starts_with("--token-file="))
      token_arg = s.command[i] == "--token-file" ? i + 1 : i;
  if (s.command[0] == "tunnel" && token_arg == 0)
    return base::invalid(
        "a connector service takes its token from a file: add --token-file "
        "FILE to the command");

  // The unit hides these from the service (PrivateTmp=, ProtectHome=): a burrow there could
  // not be started by it.
  for (std::string_view hidden : {"/tmp/", "/var/tmp/", "/home/", "/root/", "/run/user/"})
    if (init == Init::Systemd && !runsStack(s) && s.burrow.starts_with(hidden))
      return base::invalid(
          "{} is under {}, which the unit's PrivateTmp=/ProtectHome= hide from the service: "
          "install burrow elsewhere (e.g. /usr/local/bin) and run that one",
          s.burrow, hidden.substr(0, hidden.size() - 1));
  std::string token, token_from;
  const std::string token_to = s.state_dir + "/token";
  if (token_arg) {
    std::string& arg = s.command[token_arg];
    token_from = arg.starts_with("--token-file=") ? arg.substr(13) : arg;
    ASSIGN_OR_RETURN(token, readToken(token_from));
    arg = arg.starts_with("--token-file=") ? "--token-file=" + token_to : token_to;
  }
  // The service is given its paths: without --state-dir, the edge and the connector would pick
  // one from the identity they run as.
  const size_t verb = s.command[0] == "tunnel" && s.command.size() > 1 ? 2 : 1;
  if (std::none_of(s.command.begin(), s.command.end(),
                   [](auto& a) { return a == "--state-dir" || a.starts_with("--state-dir="); }))
    s.command.insert(s.command.begin() + verb, {"--state-dir", s.state_dir});

  const std::string record = recordPath(s.name);
  const std::string path = unitPath(init, s.name);
  ASSIGN_OR_RETURN(std::optional<Installed> before, findInstalled(s.name));
  if (before &&
      (before->init != init || (!before->state_dir.empty() && before->state_dir != s.state_dir)))
    return base::invalid(
        "{} is installed already, for --init {} with its state in {}: uninstall it first "
        "(--keep-state keeps its files)",
        s.name, initName(before->init), before->state_dir);
  ASSIGN_OR_RETURN(std::vector<std::string> created, recordedCreations(path));
  if (before) created.insert(created.end(), before->created.begin(), before->created.end());
  const bool reinstall = before.has_value();
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
  const bool made_dir = !exists(s.state_dir);
  if (made_dir) {
    created.push_back("state-dir=" + s.state_dir);
    undo.add([d = s.state_dir] {
      (void)runPrivileged({"remove " + d, {"rm", "-rf", "--one-file-system", "--", d}, ""});
    });
  }
  RETURN_IF_ERROR(
      runPrivileged({fmt::format("make {} the service's own (0700)", s.state_dir),
                     {"install", "-d", "-m", "0700", "-o", s.user, "-g", s.user, s.state_dir},
                     ""}));
  // A first install that fails puts back a token it found in the state directory.
  std::optional<std::string> old_token;
  auto putTokenBack = [&] {
    if (!old_token) return false;
    return runPrivileged(
               {"put back " + token_to,
                {"install", "-m", "0600", "-o", s.user, "-g", s.user, "/dev/stdin", token_to},
                *old_token})
        .has_value();
  };
  if (token_arg) {
    const bool had = exists(token_to);
    if (had && !reinstall) {
      if (auto t = readToken(token_to); t && *t != token) old_token = *t;
    }
    if (old_token) undo.add([&] { putTokenBack(); });
    RETURN_IF_ERROR(runPrivileged(
        {fmt::format("copy the token to {}", token_to),
         {"install", "-m", "0600", "-o", s.user, "-g", s.user, "/dev/stdin", token_to},
         token}));
    if (!made_dir && !had)
      undo.add([t = token_to] { (void)runPrivileged({"remove " + t, {"rm", "-f", "--", t}, ""}); });
    lines.push_back(token_from == token_to
                        ? fmt::format("made {} the service user's own (0600)", token_to)
                        : fmt::format("copied the token from {} to {} (0600, owned by {})",
                                      token_from, token_to, s.user));
  }
  std::sort(created.begin(), created.end());
  created.erase(std::unique(created.begin(), created.end()), created.end());
  const bool systemd = init == Init::Systemd;
  if (init != Init::None) {
    const bool had = exists(path);
    std::string text = systemd ? systemdUnit(s, created) : openrcScript(s, created);
    RETURN_IF_ERROR(
        runPrivileged({fmt::format("write {}", path),
                       {"install", "-D", "-m", systemd ? "0644" : "0755", "/dev/stdin", path},
                       text}));
    if (!had) undo.add([path] { (void)runPrivileged({"remove " + path, {"rm", "-f", path}, ""}); });
    lines.push_back(fmt::format("{} {}", had ? "rewrote" : "wrote", path));
  }
  RETURN_IF_ERROR(runPrivileged({fmt::format("write {}", record),
                                 {"install", "-D", "-m", "0644", "/dev/stdin", record},
                                 recordText(s, init, created)}));
  undo.keep();
  lines.push_back(fmt::format("{} {}", reinstall ? "rewrote" : "wrote", record));

  // From here on a service that does not come up is taken back whole, unless it was installed
  // before this install (then it stays, as the operator had it, and status follows it).
  const Installed installed{init, record, path, s.state_dir, s.user, created};
  const std::string log = fmt::format("{}/{}.log", s.state_dir, s.name);
  auto notUp = [&](const std::string& why,
                   const std::vector<std::string>& log_lines) -> base::Result<void> {
    std::string msg = fmt::format("{} did not stay up: {}", s.name, why);
    for (const auto& l : logTail(init == Init::Systemd ? "its journal" : log, log_lines))
      msg += "\n" + l;
    if (reinstall) {
      msg += fmt::format(
          "\nit stays installed, as it was before; `burrow service status --name {}` follows it",
          s.name);
    } else {
      const bool put_back = putTokenBack();  // while its user is still there
      auto undone = removeInstalled(s.name, installed, !made_dir);
      if (undone && put_back) undone->push_back("put back the token that was in " + token_to);
      msg += undone ? fmt::format("\ninstall taken back: {}", fmt::join(*undone, "; "))
                    : fmt::format("\ntaking the install back failed: {}", undone.error().message());
    }
    return base::makeError(std::errc::io_error, "{}", msg);
  };
  if (init == Init::None) {
    RETURN_IF_ERROR(stopSupervisor(s.name, s.state_dir));
    if (auto r = startSupervisor(s); !r) RETURN_IF_ERROR(notUp(r.error().message(), {}));
    if (std::string why = settleNone(s); !why.empty())
      RETURN_IF_ERROR(notUp(why, lastLines(log, kLogLines)));
    RunState r = parseRunState(readStateFile(statusFile(s.state_dir, s.name), 4096).value_or(""));
    lines.push_back(fmt::format("started {} (burrow's supervisor pid {}, service pid {}; up {} s)",
                                s.name, runningPid(pidFile(s.state_dir, s.name, true)), r.pid,
                                kSettle.count()));
    if (runsStack(s)) lines.push_back(stackHint(s));
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
  base::Result<std::string> started;
  if (systemd) {
    started = runPrivileged({"reload systemd", {"systemctl", "daemon-reload"}, ""});
    if (started)
      started = runPrivileged(
          {"start " + s.name, {"systemctl", "enable", "--now", s.name + ".service"}, ""});
    if (started && reinstall)
      started = runPrivileged({"restart " + s.name, {"systemctl", "restart", s.name}, ""});
    if (started) {
      if (std::string not_up = settleSystemd(s.name); !not_up.empty())
        RETURN_IF_ERROR(notUp(not_up, journalLines(s.name)));
    }
  } else {
    started = runPrivileged({"enable " + s.name, {"rc-update", "add", s.name}, ""});
    if (started)
      started = runPrivileged({"start " + s.name, {"rc-service", s.name, "restart"}, ""});
    if (started) {
      if (std::string not_up = settleOpenrc(s.name, s.state_dir); !not_up.empty())
        RETURN_IF_ERROR(notUp(not_up, lastLines(log, kLogLines)));
    }
  }
  if (!started) RETURN_IF_ERROR(notUp(started.error().message(), {}));
  lines.push_back(fmt::format("started {}", s.name));
  if (runsStack(s)) lines.push_back(stackHint(s));
  return lines;
}

base::Result<std::vector<std::string>> uninstall(const std::string& name, bool keep_state) {
  if (!validName(name)) return base::invalid("--name {}: use letters, digits, - and _", name);
  ASSIGN_OR_RETURN(std::optional<Installed> found, findInstalled(name));
  if (!found) RETURN_IF_ERROR(notInstalled(name));
  return removeInstalled(name, *found, keep_state);
}

base::Result<std::vector<std::string>> control(const std::string& name, const std::string& action) {
  if (!validName(name)) return base::invalid("--name {}: use letters, digits, - and _", name);
  ASSIGN_OR_RETURN(std::optional<Installed> found, findInstalled(name));
  if (!found) RETURN_IF_ERROR(notInstalled(name));
  const Installed& i = *found;
  auto [running, why] = detectInit();
  std::vector<std::string> lines;
  if (i.init == Init::None) {
    if (action == "status") return noneStatus(name, i);
    pid_t sup = runningPid(pidFile(i.state_dir, name, true));
    if (!sup) return base::makeError(std::errc::no_such_process, "{} is not running", name);
    RETURN_IF_ERROR(signalPid(sup, action == "restart" ? "-USR1" : "-HUP", action + " " + name));
    lines.push_back(fmt::format("{}: {} sent", name, action));
    return lines;
  }
  if (action == "status") {
    lines.push_back(fmt::format("{}: {} service, {}", name, initName(i.init), i.file));
    if (running != i.init) {
      lines.push_back(fmt::format("not running under {} here: {}", initName(i.init), why));
      return lines;
    }
    if (i.init == Init::OpenRC) {
      auto r = runCommand({"rc-service", name, "status"}, "");
      lines.push_back(r ? firstLine(r->out + r->err) : r.error().message());
      const std::string log = fmt::format("{}/{}.log", i.state_dir, name);
      for (auto& l : logTail(log, lastLines(log, kLogLines))) lines.push_back(std::move(l));
      return lines;
    }
    auto show = systemdShow(name);
    lines.push_back(show["ActiveState"]);
    if (show["SubState"] == "auto-restart" || show["ActiveState"] == "failed")
      lines.push_back(
          fmt::format("failing: systemd reports it {}/{}", show["ActiveState"], show["SubState"]));
    lines.push_back(fmt::format("restarts: {}; last exit status: {}", show["NRestarts"],
                                show["ExecMainStatus"]));
    for (auto& l : logTail("its journal", journalLines(name))) lines.push_back(std::move(l));
    return lines;
  }
  if (running != i.init)
    return base::makeError(std::errc::not_supported, "cannot {} {}: {}", action, name, why);
  std::vector<std::string> argv = i.init == Init::Systemd
                                      ? std::vector<std::string>{"systemctl", action, name}
                                      : std::vector<std::string>{"rc-service", name, action};
  RETURN_IF_ERROR(runPrivileged({action + " " + name, argv, ""}));
  lines.push_back(fmt::format("{}: {} done", name, action));
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
  RunState run;
  auto report = [&] {
    (void)base::writeFileAtomic(statusFile(state_dir, name), formatRunState(run), 0600);
  };
  report();  // before the pidfile: install and status never read an earlier run's state
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

  // Restart=on-failure after RestartSec=1s, doubled while the service keeps failing quickly.
  constexpr Restart kPolicy = Restart::OnFailure;
  constexpr std::chrono::milliseconds kRestartSec{1'000};
  Backoff backoff(kRestartSec);
  bool stopping = false;
  while (!stopping) {
    openLog(log);
    pid_t child = -1;
    if (int rc = ::posix_spawn(&child, burrow.c_str(), nullptr, &attr, argv.data(), environ)) {
      note(name, fmt::format("cannot start {}: {}", burrow, std::strerror(rc)));
      break;
    }
    const auto started = clock::now();
    run.runs++;
    run.pid = child;
    run.started = unixNow();
    run.next_start = 0;
    report();
    (void)base::writeFileAtomic(pidFile(state_dir, name, false), fmt::format("{}\n", child), 0600);
    note(name, fmt::format("started pid {}", child));
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
    const bool failed = shouldRestart(kPolicy, Exit::fromWaitStatus(status));
    const auto ran_for =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started);
    run.pid = 0;
    run.last_exit = exitText(status);
    run.last_exit_at = unixNow();
    run.failures =
        failed && ran_for < Backoff::kSettled && !stopping && !restart_now ? run.failures + 1 : 0;
    report();
    note(name, fmt::format("pid {} ended ({})", child, run.last_exit));
    if (stopping) break;
    if (restart_now) {
      backoff = Backoff(kRestartSec);
      continue;
    }
    if (!failed) break;  // a clean end ends the service
    const auto delay = backoff.next(ran_for);
    const auto delay_s = std::chrono::duration_cast<std::chrono::seconds>(delay).count();
    note(name, fmt::format("restarting in {} s", delay_s));
    run.next_start = unixNow() + static_cast<long>(delay_s);
    report();
    // Wait out the backoff; a stop request cuts it short.
    pollfd pfd{sigs.get(), POLLIN, 0};
    auto until = clock::now() + delay;
    while (!stopping && clock::now() < until) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now());
      if (::poll(&pfd, 1, static_cast<int>(left.count()) + 1) <= 0) continue;
      signalfd_siginfo si{};
      if (::read(sigs.get(), &si, sizeof si) == sizeof si &&
          (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT))
        stopping = true;
      if (si.ssi_signo == SIGUSR1) break;
    }
  }
  posix_spawnattr_destroy(&attr);
  ::unlink(pidFile(state_dir, name, false).c_str());
  ::unlink(pidFile(state_dir, name, true).c_str());
  note(name, "supervisor stopped");
  return 0;
}

}  // namespace supervise
