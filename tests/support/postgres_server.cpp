// PostgresServer: a throwaway PostgreSQL server for tests (see postgres_server.h).
#include "support/postgres_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "util/defer.h"

namespace cybexp::test_support {
namespace fs = std::filesystem;
namespace {

constexpr const char* kInstallHint =
    "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin: "
    "run `apt-get install postgresql` (or set CYBEXP_PG_BINDIR to their directory)";

bool has_binaries(const fs::path& dir) {
  return access((dir / "initdb").c_str(), X_OK) == 0 && access((dir / "pg_ctl").c_str(), X_OK) == 0;
}

// Runs argv and waits for it, optionally as another user, with `extra_env`
// ("NAME=value") added to this process's environment; output goes to `log`.
// Only async-signal-safe calls between fork and exec.
int spawn(const std::vector<std::string>& argv, const fs::path& log, const fs::path& cwd,
          bool drop, uid_t uid, gid_t gid, const std::vector<std::string>& extra_env = {}) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  for (const auto& e : extra_env) env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);
  std::string log_path = log.string();
  std::string cwd_path = cwd.string();
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int in = open("/dev/null", O_RDONLY);
    int out = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || out < 0) _exit(125);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    // The server outlives this command (pg_ctl daemonises it): it must not
    // hold the test's pipes open, or whoever reads them (ctest) never sees EOF.
    close_range(3, ~0U, 0);
    if (drop && (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) _exit(126);
    if (chdir(cwd_path.c_str()) != 0) _exit(125);
    execve(args[0], args.data(), env.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::optional<std::pair<uid_t, gid_t>> lookup_user(const char* name) {
  struct passwd pw;
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(name, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return std::make_pair(pw.pw_uid, pw.pw_gid);
}

// Under root: the user to run the server as (see the header).
Result<std::pair<uid_t, gid_t>> server_user(const fs::path& log) {
  if (const char* name = std::getenv("CYBEXP_TEST_PG_USER")) {
    if (auto u = lookup_user(name)) return *u;
    return make_error(ErrorKind::kIo, std::string("CYBEXP_TEST_PG_USER: no user ") + name);
  }
  if (auto u = lookup_user("cybexp-test")) return *u;
  // Two test processes may race here; whichever loses sees the user exist.
  spawn({"/usr/sbin/useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
         "--shell", "/usr/sbin/nologin", "cybexp-test"},
        log, "/", false, 0, 0);
  if (auto u = lookup_user("cybexp-test")) return *u;
  if (auto u = lookup_user("nobody")) return *u;
  return make_error(ErrorKind::kIo,
                    "running as root and there is no user to run PostgreSQL as "
                    "(useradd cybexp-test failed, no nobody): set CYBEXP_TEST_PG_USER");
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

std::string tail_of(const fs::path& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
  return text;
}

}  // namespace

Result<fs::path> find_postgres_bindir() {
  if (const char* env = std::getenv("CYBEXP_PG_BINDIR")) {
    if (has_binaries(env)) return fs::path(env);
    return make_error(ErrorKind::kNotFound,
                      std::string("CYBEXP_PG_BINDIR=") + env + " has no initdb and pg_ctl");
  }
  fs::path best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    int version = std::atoi(entry.path().filename().c_str());
    if (version > best_version && has_binaries(entry.path() / "bin")) {
      best = entry.path() / "bin";
      best_version = version;
    }
  }
  if (best_version < 0) return make_error(ErrorKind::kNotFound, kInstallHint);
  return best;
}

PostgresServer::PostgresServer(PostgresServerOptions options) : options_(std::move(options)) {}

PostgresServer::~PostgresServer() {
  // postmaster.pid, not running_: a start that failed half-way (pg_ctl timed
  // out, the server never answered) may still have left a server behind.
  std::error_code ec;
  if (initialized_ && fs::exists(dir_ / "data" / "postmaster.pid", ec)) {
    running_ = true;
    if (!stop()) {
      // Last resort, so that no server outlives the test.
      run({(bindir_ / "pg_ctl").string(), "stop", "-D", (dir_ / "data").string(), "-m",
           "immediate", "-w"},
          "pg_ctl stop -m immediate");
    }
  }
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

Error PostgresServer::fail(const std::string& what, const std::string& why) const {
  std::string message = "test postgres: " + what + ": " + why;
  std::string log = log_tail();
  if (!log.empty()) message += "\n--- log ---\n" + log;
  return Error{ErrorKind::kIo, message};
}

std::string PostgresServer::log_tail(std::size_t max_bytes) const {
  if (dir_.empty()) return {};
  return tail_of(dir_ / "commands.log", max_bytes) + tail_of(dir_ / "server.log", max_bytes);
}

Result<void> PostgresServer::run(const std::vector<std::string>& argv, const std::string& what,
                                 const std::vector<std::string>& env) {
  int rc = spawn(argv, dir_ / "commands.log", dir_, drop_privileges_, uid_, gid_, env);
  if (rc != 0) return std::unexpected(fail(what, "exit status " + std::to_string(rc)));
  return {};
}

std::string PostgresServer::url_for(const std::string& database) const {
  return "postgresql://" + options_.user + "@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

Result<void> PostgresServer::init() {
  bindir_ = CYBEXP_TRY(find_postgres_bindir());
  fs::path base = "/tmp";
  const char* tmpdir = std::getenv("TMPDIR");
  drop_privileges_ = geteuid() == 0;
  // The server user must be able to reach the directory, and the socket path
  // must fit in sun_path: /tmp is both, TMPDIR need not be.
  if (!drop_privileges_ && tmpdir != nullptr && std::strlen(tmpdir) < 60) base = tmpdir;
  std::string tmpl = (base / "cybexp-pg-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    return make_error(ErrorKind::kIo, "test postgres: mkdtemp " + tmpl + ": " + std::strerror(errno));
  }
  dir_ = tmpl;
  if (drop_privileges_) {
    auto user = CYBEXP_TRY(server_user(dir_ / "commands.log"));
    uid_ = user.first;
    gid_ = user.second;
    if (chown(dir_.c_str(), uid_, gid_) != 0) {
      return std::unexpected(fail("chown " + dir_.string(), std::strerror(errno)));
    }
    // commands.log may already exist (useradd's output) and stays root's;
    // the server user appends to it too.
    std::error_code ec;
    fs::permissions(dir_ / "commands.log", fs::perms::all, ec);
  }
  CYBEXP_TRY_VOID(copy_template(CYBEXP_TRY(ensure_template(base))));
  initialized_ = true;
  return {};
}

// initdb bootstraps the catalogs, seconds of work per server; a copy of an
// initialized directory takes a fraction of that. The first server on this
// machine (per PostgreSQL installation, superuser name and server account)
// makes the template; a lock makes concurrent test processes (ctest -j) wait
// for it instead of racing. The template stays in `base` for later runs.
Result<fs::path> PostgresServer::ensure_template(const fs::path& base) {
  const std::string key = "cybexp-pg-template-" + bindir_.parent_path().filename().string() + "-" +
                          options_.user + "-" + std::to_string(geteuid()) + "-" +
                          std::to_string(uid_);
  const fs::path templ = base / key;
  const int lock =
      open((base / (key + ".lock")).c_str(), O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock < 0 || flock(lock, LOCK_EX) != 0) {
    if (lock >= 0) close(lock);
    return std::unexpected(fail("lock the template " + templ.string(), std::strerror(errno)));
  }
  DEFER(close(lock));  // releases the flock
  std::error_code ec;
  if (!fs::exists(templ / "data" / "global" / "pg_control", ec) || !trusted_template(templ)) {
    CYBEXP_TRY_VOID(make_template(templ));
  }
  return templ / "data";
}

// /tmp is everyone's: a template someone else planted there (its
// postgresql.conf runs commands as the server's account) or left writable
// is never used; it is made again.
bool PostgresServer::trusted_template(const fs::path& templ) const {
  const uid_t owner = drop_privileges_ ? uid_ : geteuid();
  for (const fs::path& p : {templ, templ / "data"}) {
    struct stat st {};
    if (lstat(p.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != owner ||
        (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
      return false;
    }
  }
  return true;
}

Result<void> PostgresServer::make_template(const fs::path& templ) {
  std::string tmp = templ.string() + ".tmp-XXXXXX";
  if (mkdtemp(tmp.data()) == nullptr) {
    return std::unexpected(fail("mkdtemp " + tmp, std::strerror(errno)));
  }
  DEFER(std::error_code ignored; fs::remove_all(tmp, ignored));  // a failed initdb's leftovers
  std::error_code ec;
  if (drop_privileges_ && chown(tmp.c_str(), uid_, gid_) != 0) {
    return std::unexpected(fail("chown " + tmp, std::strerror(errno)));
  }
  CYBEXP_TRY_VOID(run({(bindir_ / "initdb").string(), "-D", (fs::path(tmp) / "data").string(),
                       "-U", options_.user, "--auth=trust", "--no-sync", "--encoding=UTF8",
                       "--locale=C", "--no-instructions",
                       // 1 MiB WAL segments instead of 16: less to copy per server.
                       "--wal-segsize=1"},
                      "initdb"));
  fs::remove_all(templ, ec);  // a broken or untrusted leftover
  fs::rename(tmp, templ, ec);
  if (ec) return std::unexpected(fail("rename " + tmp + " to " + templ.string(), ec.message()));
  return {};
}

// As the server's account, so that data/ is its own, mode 0700.
Result<void> PostgresServer::copy_template(const fs::path& data) {
  return run({"/bin/cp", "-a", data.string(), (dir_ / "data").string()},
             "copy the initialized template " + data.string());
}

Result<void> PostgresServer::start_server() {
  // Appended settings win over earlier ones, so a retry on another port works.
  std::ofstream conf(dir_ / "data" / "postgresql.conf", std::ios::app);
  conf << "\n# cybexp test server\n"
       << "listen_addresses = '127.0.0.1'\n"
       << "port = " << port_ << "\n"
       << "unix_socket_directories = '" << dir_.string() << "'\n"
       << "fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n"
       << "shared_buffers = 32MB\nmax_connections = 100\n";
  for (const auto& s : options_.settings) conf << s << "\n";
  conf.close();
  if (!conf) return std::unexpected(fail("write postgresql.conf", std::strerror(errno)));
  // pg_ctl hands its environment on to the server.
  auto env = CYBEXP_TRY(server_environment());
  return run({(bindir_ / "pg_ctl").string(), "start", "-D", (dir_ / "data").string(), "-l",
              (dir_ / "server.log").string(), "-w", "-t",
              std::to_string(options_.start_timeout.count())},
             "pg_ctl start", env);
}

Result<std::vector<std::string>> PostgresServer::server_environment() {
  std::vector<std::string> env = options_.environment;
  if (options_.preload.empty()) return env;
  const fs::path copy = dir_ / options_.preload.filename();
  std::error_code ec;
  fs::copy_file(options_.preload, copy, fs::copy_options::overwrite_existing, ec);
  if (ec) return std::unexpected(fail("copy " + options_.preload.string(), ec.message()));
  fs::permissions(copy, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read,
                  ec);
  if (ec) return std::unexpected(fail("chmod " + copy.string(), ec.message()));
  env.push_back("LD_PRELOAD=" + copy.string());
  return env;
}

Result<void> PostgresServer::wait_ready() {
  // pg_ctl -w already waited; this also proves TCP works as the URL says.
  std::string conninfo = url_for("postgres");
  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  while (PQping(conninfo.c_str()) != PQPING_OK) {
    if (std::chrono::steady_clock::now() > deadline) {
      return std::unexpected(fail("wait for the server", "no connection on " + conninfo));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  running_ = true;
  return {};
}

Result<std::string> PostgresServer::start() {
  if (running_) return url_;
  if (!initialized_) {
    CYBEXP_TRY_VOID(init());
    // The port was free a moment ago; someone may take it before the server
    // binds, so a few fresh ports are tried.
    Result<void> started;
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      if (port_ == 0) return std::unexpected(fail("find a free port", std::strerror(errno)));
      started = start_server();
      if (started) break;
    }
    CYBEXP_TRY_VOID(started);
    CYBEXP_TRY_VOID(wait_ready());
    url_ = url_for(options_.database);
    CYBEXP_TRY(create_database(options_.database));
    return url_;
  }
  CYBEXP_TRY_VOID(start_server());
  CYBEXP_TRY_VOID(wait_ready());
  return url_;
}

Result<void> PostgresServer::stop() {
  if (!running_) return {};
  running_ = false;
  return run({(bindir_ / "pg_ctl").string(), "stop", "-D", (dir_ / "data").string(), "-m",
              "fast", "-w", "-t", std::to_string(options_.start_timeout.count())},
             "pg_ctl stop");
}

Result<void> PostgresServer::restart() {
  CYBEXP_TRY_VOID(stop());
  CYBEXP_TRY(start());
  return {};
}

Result<std::string> PostgresServer::create_database(const std::string& name) {
  if (!running_) return std::unexpected(fail("create database " + name, "the server is not running"));
  PGconn* conn = PQconnectdb(url_for("postgres").c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string why = PQerrorMessage(conn);
    PQfinish(conn);
    return std::unexpected(fail("connect to create database " + name, why));
  }
  char* ident = PQescapeIdentifier(conn, name.c_str(), name.size());
  std::string sql = std::string("CREATE DATABASE ") + ident;
  PQfreemem(ident);
  PGresult* res = PQexec(conn, sql.c_str());
  bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
  std::string why = ok ? "" : PQresultErrorMessage(res);
  PQclear(res);
  PQfinish(conn);
  if (!ok) return std::unexpected(fail("create database " + name, why));
  return url_for(name);
}

PostgresServer& shared_test_server() {
  static PostgresServer server;
  static Result<std::string> started = server.start();
  if (!started) throw std::runtime_error(started.error().message);
  return server;
}

std::string fresh_test_database() {
  static std::atomic<int> counter{0};
  auto url = shared_test_server().create_database("t" + std::to_string(++counter));
  if (!url) throw std::runtime_error(url.error().message);
  return *url;
}

}  // namespace cybexp::test_support
