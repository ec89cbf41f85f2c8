// Helpers for the cluster tests (cluster_test.cpp, cluster_vectors_test.cpp):
// one throwaway PostgreSQL server per test process, a working directory with
// the test key pair and a config file naming postgresql:// stores, worker
// processes of the real binary that can be killed, and libpq queries that
// look at the tables behind the binary's back.
//
// Every wait is a bounded poll: a test that hangs is a failure with a message,
// never a stuck CI job. Children still running when their Child goes out of
// scope are SIGKILLed, so a failing test leaves no worker behind.
#pragma once

#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/postgres_server.h"
#include "support/process.h"

namespace cybexp::cluster {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

// The server shared by the tests of this process (ctest runs each test in a
// process of its own, so tests never share one). Throws if it cannot start;
// gtest reports the exception as the test's failure.
inline test_support::PostgresServer& server() { return test_support::shared_test_server(); }

// A fresh database on the shared server.
inline std::string fresh_database(const std::string& name) {
  auto url = server().create_database(name);
  if (!url) throw std::runtime_error(url.error().message);
  return *url;
}

// Calls done() every 50 ms until it returns true or `limit` passes; returns
// its last answer.
inline bool poll_until(Seconds limit, const std::function<bool()>& done) {
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(limit);
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

// One libpq connection for a handful of queries. Errors throw (with the
// server's message), so a broken query fails the test where it is written.
class Db {
 public:
  explicit Db(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string why = PQerrorMessage(conn_);
      PQfinish(conn_);
      throw std::runtime_error("connect: " + why);
    }
  }
  ~Db() { PQfinish(conn_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Rows of text values; SQL NULL reads as "<null>".
  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    PGresult* res = PQexec(conn_, sql.c_str());
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
      std::string why = PQresultErrorMessage(res);
      PQclear(res);
      throw std::runtime_error(sql + ": " + why);
    }
    std::vector<std::vector<std::string>> out(PQntuples(res));
    for (int i = 0; i < PQntuples(res); ++i) {
      for (int j = 0; j < PQnfields(res); ++j) {
        out[i].push_back(PQgetisnull(res, i, j) ? "<null>" : PQgetvalue(res, i, j));
      }
    }
    PQclear(res);
    return out;
  }
  void exec(const std::string& sql) { rows(sql); }
  long long scalar(const std::string& sql) { return std::stoll(rows(sql).at(0).at(0)); }

 private:
  PGconn* conn_;
};

// Entries not yet processed or skipped (whoever holds them).
inline long long unfinished(Db& db) {
  return db.scalar("SELECT count(*) FROM cybexp_entries WHERE NOT processed AND NOT skip");
}

// Logs every finishing of an entry (the UPDATE that sets finished_at) with
// the lease holder that did it, so a test can tell "finished exactly once"
// from "ended up finished". finished_at is now(), which differs between
// transactions, so a second finishing always shows up as a second row.
inline void install_finish_log(Db& db) {
  db.exec(
      "CREATE TABLE test_finishes (entry_id bigint NOT NULL, worker text);"
      "CREATE FUNCTION test_log_finish() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "  INSERT INTO test_finishes VALUES (NEW.id, OLD.lease_owner); RETURN NEW; END $$;"
      "CREATE TRIGGER test_finish_log AFTER UPDATE ON cybexp_entries FOR EACH ROW "
      "  WHEN (NEW.finished_at IS DISTINCT FROM OLD.finished_at AND NEW.finished_at IS NOT NULL) "
      "  EXECUTE FUNCTION test_log_finish()");
}

// A directory with priv.pem (0600), pub.pem and config.json naming the stores.
class WorkDir {
 public:
  WorkDir(const std::string& cache_url, const std::string& archive_url, int lease_seconds) {
    for (const char* name : {"priv.pem", "pub.pem"}) {
      std::filesystem::copy_file(std::string(CYBEXP_TEST_DATA_DIR) + "/" + name, dir_ / name);
    }
    std::filesystem::permissions(dir_ / "priv.pem", std::filesystem::perms::owner_read |
                                                        std::filesystem::perms::owner_write);
    add_config("config.json", cache_url, archive_url, lease_seconds);
  }
  // Another config file in the directory (e.g. a URL with its own
  // application_name, to tell one worker's connections from another's).
  void add_config(const std::string& name, const std::string& cache_url,
                  const std::string& archive_url, int lease_seconds) const {
    testing::write_file(dir_ / name,
                        "{\"cache\": {\"url\": \"" + cache_url +
                            "\", \"private_key\": \"priv.pem\"},\n \"archive\": {\"url\": \"" +
                            archive_url + "\"},\n \"public_key\": \"pub.pem\", \"lease_seconds\": " +
                            std::to_string(lease_seconds) + "}\n");
  }
  const std::filesystem::path& path() const { return dir_.path(); }
  std::filesystem::path operator/(const std::string& name) const { return dir_ / name; }

  // cybexp-archive -c config.json ARGS..., to completion.
  testing::RunResult run(std::vector<std::string> args) const {
    args.insert(args.begin(), {"-c", "config.json"});
    return testing::run_binary(dir_.path(), args);
  }

 private:
  testing::TempDir dir_;
};

// A `cybexp-archive -c CONFIG ARGS...` process running in the background;
// output goes to NAME.out and NAME.err in the work directory.
class Child : public testing::Process {
 public:
  Child(const WorkDir& dir, const std::string& name, std::vector<std::string> args,
        const std::string& config = "config.json")
      : Process(dir.path(), with_config(std::move(args), config), {{}, {}, name}) {}

  // Waits up to `limit` for the process to end; true if it did.
  bool wait(Seconds limit) {
    return Process::wait(std::chrono::duration_cast<std::chrono::milliseconds>(limit));
  }

 private:
  static std::vector<std::string> with_config(std::vector<std::string> args,
                                              const std::string& config) {
    args.insert(args.begin(), {"-c", config});
    return testing::binary_argv(std::move(args));
  }
};

}  // namespace cybexp::cluster
