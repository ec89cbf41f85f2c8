// libmongoc plumbing (mongo_client.h).
#include "store/mongo/mongo_client.h"

#include <mutex>

#include "store/mongo/library_log.h"
#include "util/log.h"

namespace cybexp::mongo {
namespace {

// libmongoc logs to stderr by itself; route its warnings into our log (which
// knows the configured format) and drop its chatter.
void log_handler(mongoc_log_level_t level, const char* domain, const char* message, void*) {
  if (level > MONGOC_LOG_LEVEL_WARNING) return;
  log(level <= MONGOC_LOG_LEVEL_CRITICAL ? LogLevel::kError : LogLevel::kWarning,
      std::string("libmongoc: ") + message, {{"domain", domain != nullptr ? domain : ""}});
}

// Before main nothing of ours is constructed yet: libmongoc's messages then
// are about its counters only (library_log.h) and are dropped.
void drop_message(mongoc_log_level_t, const char*, const char*, void*) {}

void init_once() {
  static std::once_flag once;
  // mongoc_cleanup() is never called: the library lives as long as the process.
  std::call_once(once, [] {
    mongoc_init();
    mongoc_log_set_handler(log_handler, nullptr);
  });
}

std::string one_line(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

// Bounded waits: a server that does not answer is a store error after these,
// never a hang. What the URL says explicitly is kept.
void set_timeouts(mongoc_uri_t* uri, const StoreTimeouts& t) {
  const auto ms = [](double seconds) { return static_cast<std::int32_t>(seconds * 1000); };
  const std::pair<const char*, std::int32_t> options[] = {
      {MONGOC_URI_SOCKETTIMEOUTMS, ms(t.statement_seconds)},
      {MONGOC_URI_CONNECTTIMEOUTMS, ms(t.connect_seconds)},
      {MONGOC_URI_SERVERSELECTIONTIMEOUTMS, ms(t.connect_seconds)},
  };
  for (const auto& [name, value] : options) {
    if (!mongoc_uri_has_option(uri, name)) mongoc_uri_set_option_as_int32(uri, name, value);
  }
}

}  // namespace

void quiet_library_log_before_main() { mongoc_log_set_handler(drop_message, nullptr); }

Result<std::shared_ptr<Pool>> Pool::open(const std::string& url, const StoreTimeouts& timeouts) {
  init_once();
  std::shared_ptr<Pool> pool(new Pool());
  pool->url_ = url;
  bson_error_t err;
  pool->uri_ = mongoc_uri_new_with_error(url.c_str(), &err);
  if (pool->uri_ == nullptr) {
    return make_error(ErrorKind::kInvalidArgument, "mongodb: bad URL: " + one_line(err.message));
  }
  const mongoc_host_list_t* hosts = mongoc_uri_get_hosts(pool->uri_);
  pool->label_ = "mongodb";
  if (hosts != nullptr) pool->label_ += std::string(" ") + hosts->host_and_port;
  if (mongoc_uri_get_appname(pool->uri_) == nullptr) {
    mongoc_uri_set_appname(pool->uri_, "cybexp-archive");
  }
  set_timeouts(pool->uri_, timeouts);
  pool->pool_ = mongoc_client_pool_new_with_error(pool->uri_, &err);
  if (pool->pool_ == nullptr) {
    return make_error(ErrorKind::kInvalidArgument, "mongodb: " + one_line(err.message));
  }
  // Version 2: server errors carry the server's code in the MONGOC_ERROR_SERVER
  // domain, so a duplicate key is told from a dropped connection.
  mongoc_client_pool_set_error_api(pool->pool_, MONGOC_ERROR_API_VERSION_2);

  Client client = pool->acquire();
  BsonPtr ping = Doc().int32("ping", 1).take();
  bson_t reply;
  bool ok = mongoc_client_command_simple(client.get(), "admin", ping.get(), nullptr, &reply, &err);
  bson_destroy(&reply);
  if (!ok) return std::unexpected(db_error(pool->label_, "connect", err));
  return pool;
}

Result<BsonPtr> archive_insert_opts(const std::string& url) {
  init_once();
  bson_error_t err;
  std::unique_ptr<mongoc_uri_t, decltype(&mongoc_uri_destroy)> uri(
      mongoc_uri_new_with_error(url.c_str(), &err), &mongoc_uri_destroy);
  if (!uri) {
    return make_error(ErrorKind::kInvalidArgument, "mongodb: bad URL: " + one_line(err.message));
  }
  BsonPtr opts = Doc().boolean("ordered", false).boolean("validate", false).take();
  const mongoc_write_concern_t* from_url = mongoc_uri_get_write_concern(uri.get());
  const bool url_sets_w = mongoc_write_concern_get_w(from_url) != MONGOC_WRITE_CONCERN_W_DEFAULT ||
                          mongoc_write_concern_get_wtag(from_url) != nullptr;
  if (url_sets_w || mongoc_write_concern_journal_is_set(from_url)) return opts;
  std::unique_ptr<mongoc_write_concern_t, decltype(&mongoc_write_concern_destroy)> wc(
      mongoc_write_concern_new(), &mongoc_write_concern_destroy);
  mongoc_write_concern_set_wmajority(wc.get(), 0);
  mongoc_write_concern_set_wtimeout_int64(wc.get(),
                                          mongoc_write_concern_get_wtimeout_int64(from_url));
  mongoc_write_concern_set_journal(wc.get(), true);
  if (!mongoc_write_concern_append(wc.get(), opts.get())) {
    return make_error(ErrorKind::kInternal, "mongodb: cannot append the write concern");
  }
  return opts;
}

Pool::~Pool() {
  if (pool_ != nullptr) mongoc_client_pool_destroy(pool_);
  if (uri_ != nullptr) mongoc_uri_destroy(uri_);
}

Error db_error(std::string_view where, std::string_view what, const bson_error_t& e) {
  return Error{ErrorKind::kDatabase,
               std::string(where) + ": " + std::string(what) + ": " + one_line(e.message)};
}

bool is_duplicate_key(const bson_error_t& e) {
  return is_server_error(e) && (e.code == 11000 || e.code == 11001 || e.code == 12582);
}

bool is_server_error(const bson_error_t& e) {
  return e.domain == MONGOC_ERROR_SERVER || e.domain == MONGOC_ERROR_WRITE_CONCERN;
}

Result<void> drain_cursor(mongoc_cursor_t* cursor, std::string_view where, std::string_view what,
                          const std::function<bool(const BsonStruct*)>& fn) {
  const bson_t* doc = nullptr;
  while (mongoc_cursor_next(cursor, &doc)) {
    if (!fn(doc)) return {};
  }
  bson_error_t err;
  if (mongoc_cursor_error(cursor, &err)) return std::unexpected(db_error(where, what, err));
  return {};
}

}  // namespace cybexp::mongo
