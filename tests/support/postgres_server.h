// A throwaway PostgreSQL server for tests: a copy of an initdb'd template
// (made once per machine in /tmp, cybexp-pg-template-*) in a temporary directory,
// start on a free 127.0.0.1 port (fsync off, trust auth, user "cybexp"),
// create a database, and on destruction stop it and remove the directory.
//
//   cybexp::test_support::PostgresServer server;
//   auto url = server.start();           // postgresql://cybexp@127.0.0.1:PORT/cybexp
//   ASSERT_TRUE(url) << url.error().message;
//   auto other = server.create_database("t1");  // a fresh database on it
//   server.restart();                    // same port, same data
//
// Tests that need no server of their own share one: fresh_test_database().
//
// The binaries are found in $CYBEXP_PG_BINDIR or the newest
// /usr/lib/postgresql/*/bin; if there are none, start() fails saying to
// `apt-get install postgresql`. PostgreSQL refuses to run as root: under root
// the server runs as user "cybexp-test" (created with useradd when missing;
// "nobody" if that fails), which owns the temporary directory.
// Link with libpq (PostgreSQL::PostgreSQL) to use it.
//
// Thread safety: one thread drives a PostgresServer; the server itself takes
// connections from any number of threads and processes.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <sys/types.h>
#include <vector>

#include "cybexp/result.h"

namespace cybexp::test_support {

struct PostgresServerOptions {
  std::string user = "cybexp";      // the superuser initdb creates
  std::string database = "cybexp";  // created by the first start()
  // Extra server settings, "name=value" each, appended to postgresql.conf.
  std::vector<std::string> settings;
  // "NAME=value" each, added to the server's environment.
  std::vector<std::string> environment;
  // A shared library the server's processes load first (LD_PRELOAD), to
  // inject a fault (late_group_signal.cpp); copied into the server's
  // directory, where the server user can read it.
  std::filesystem::path preload;
  std::chrono::seconds start_timeout{60};
};

class PostgresServer {
 public:
  explicit PostgresServer(PostgresServerOptions options = {});
  ~PostgresServer();  // stop() and remove the directory
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // The first call runs initdb, starts the server and creates the database;
  // later calls start it again if stopped. Returns url().
  Result<std::string> start();
  // Fast shutdown (pg_ctl stop -m fast): open connections are cut.
  Result<void> stop();
  // stop() then start() on the same port and data.
  Result<void> restart();

  bool running() const { return running_; }
  // postgresql://USER@127.0.0.1:PORT/DATABASE; empty before start().
  const std::string& url() const { return url_; }
  // The URL of another database on this server.
  std::string url_for(const std::string& database) const;
  // Creates a new, empty database; returns its URL.
  Result<std::string> create_database(const std::string& name);
  int port() const { return port_; }
  const std::filesystem::path& directory() const { return dir_; }
  // The end of the server log, for failure messages.
  std::string log_tail(std::size_t max_bytes = 2000) const;

 private:
  Result<void> init();
  Result<std::filesystem::path> ensure_template(const std::filesystem::path& base);
  bool trusted_template(const std::filesystem::path& templ) const;
  Result<void> make_template(const std::filesystem::path& templ);
  Result<void> copy_template(const std::filesystem::path& data);
  Result<void> start_server();
  // The server's environment additions: options_.environment and preload.
  Result<std::vector<std::string>> server_environment();
  Result<void> wait_ready();
  Result<void> run(const std::vector<std::string>& argv, const std::string& what,
                   const std::vector<std::string>& env = {});
  Error fail(const std::string& what, const std::string& why) const;

  PostgresServerOptions options_;
  std::filesystem::path bindir_;
  std::filesystem::path dir_;  // temporary; holds data/, the socket and logs
  uid_t uid_ = 0;              // who runs the server (when we are root)
  gid_t gid_ = 0;
  bool drop_privileges_ = false;
  bool initialized_ = false;
  bool running_ = false;
  int port_ = 0;
  std::string url_;
};

// The directory holding initdb and pg_ctl, or an error saying what to install.
Result<std::filesystem::path> find_postgres_bindir();

// The test process's one server, started on first use and stopped at exit;
// throws std::runtime_error (a test failure) when it cannot start.
PostgresServer& shared_test_server();
// A fresh, empty database on it (t1, t2, ...); returns its URL. Throws as above.
std::string fresh_test_database();

}  // namespace cybexp::test_support
