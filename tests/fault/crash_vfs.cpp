// See crash_vfs.h. A shim VFS over "unix": every method forwards, xWrite and
// xTruncate first keep the bytes they are about to change (up to the file's
// size at its last sync), xSync forgets them, and at the planned event the
// power goes.
#include "fault/crash_vfs.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace cybexp::testing::crash {
namespace {

constexpr std::int64_t kSector = 512;

// The bytes a write or truncate replaced, for the part of the file that was
// durable (below its size at the last sync).
struct Undo {
  std::int64_t offset;
  std::vector<std::uint8_t> old;
};

struct FileState {
  std::int64_t durable_size = 0;  // size at the last sync (or when first seen)
  std::vector<Undo> undo;         // since the last sync, oldest first
  std::uint64_t writes = 0, truncates = 0;  // since the last sync
};

struct Torn {
  std::string path;
  std::int64_t offset = 0;
  std::vector<std::uint8_t> prefix;
  std::int64_t sectors = 0, kept = 0;
};

std::mutex g_mu;  // guards everything below except g_dead and g_armed
std::atomic<bool> g_armed{false};
std::atomic<bool> g_dead{false};
Plan g_plan;
Counts g_counts;
std::map<std::string, FileState> g_files;
std::set<std::string> g_main_dbs;  // their -shm goes at reboot
std::optional<Torn> g_torn;
std::string g_cut;  // what happened, for reboot()'s line

sqlite3_vfs* g_real = nullptr;
sqlite3_vfs g_vfs;
sqlite3_io_methods g_io;

struct File {
  sqlite3_file base;
  sqlite3_file* real;
  const char* name;  // valid until xClose; null for temp files
};

File* me(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
sqlite3_file* real(sqlite3_file* f) { return me(f)->real; }
bool tracked(sqlite3_file* f) { return g_armed.load() && me(f)->name != nullptr; }

std::int64_t real_size(sqlite3_file* f) {
  sqlite3_int64 size = 0;
  if (real(f)->pMethods->xFileSize(real(f), &size) != SQLITE_OK) return 0;
  return size;
}

// Under g_mu.
FileState& state_of(sqlite3_file* f) {
  auto [it, inserted] = g_files.try_emplace(me(f)->name);
  if (inserted) it->second.durable_size = real_size(f);
  return it->second;
}

// Keeps what [offset, end) currently holds below the durable size. A
// region a truncate already removed reads as zeros; the truncate's own
// record, older, puts the real bytes back when the log is replayed backwards.
void remember(sqlite3_file* f, FileState& st, std::int64_t offset, std::int64_t end) {
  end = std::min(end, st.durable_size);
  if (end <= offset) return;
  Undo u{offset, std::vector<std::uint8_t>(static_cast<std::size_t>(end - offset))};
  const int rc = real(f)->pMethods->xRead(real(f), u.old.data(), static_cast<int>(u.old.size()),
                                          offset);
  if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) return;  // nothing we can restore
  st.undo.push_back(std::move(u));
}

void cut(const std::string& what) {
  g_cut = what;
  g_dead.store(true);
}

int x_close(sqlite3_file* f) { return real(f)->pMethods->xClose(real(f)); }

int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  if (g_dead.load()) return SQLITE_IOERR_READ;
  return real(f)->pMethods->xRead(real(f), buf, n, off);
}

int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  if (g_dead.load()) return SQLITE_IOERR_WRITE;
  if (!tracked(f)) return real(f)->pMethods->xWrite(real(f), buf, n, off);
  std::lock_guard lock(g_mu);
  if (g_dead.load()) return SQLITE_IOERR_WRITE;
  const std::uint64_t number = ++g_counts.writes;
  if (g_plan.event == Event::kWrite && number == g_plan.n) {
    std::string what = "cut at write " + std::to_string(number) + " (" + std::to_string(n) +
                       " bytes of " + me(f)->name + " @ " + std::to_string(off);
    // Torn: whole sectors from the start of the write, at least one, never
    // all of them (a write within one sector is simply lost).
    const std::int64_t first = off / kSector;
    const std::int64_t last = (off + n - 1) / kSector;
    const std::int64_t sectors = last - first + 1;
    if (g_plan.torn && sectors > 1) {
      const std::int64_t kept = 1 + static_cast<std::int64_t>(number % (sectors - 1));
      const std::int64_t end = (first + kept) * kSector;
      const auto* bytes = static_cast<const std::uint8_t*>(buf);
      g_torn = Torn{me(f)->name, off, {bytes, bytes + (end - off)}, sectors, kept};
      what += ", torn: " + std::to_string(kept) + " of " + std::to_string(sectors) + " sectors land";
    }
    cut(what + ")");
    return SQLITE_IOERR_WRITE;
  }
  FileState& st = state_of(f);
  remember(f, st, off, off + n);
  ++st.writes;
  return real(f)->pMethods->xWrite(real(f), buf, n, off);
}

int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (g_dead.load()) return SQLITE_IOERR_TRUNCATE;
  if (!tracked(f)) return real(f)->pMethods->xTruncate(real(f), size);
  std::lock_guard lock(g_mu);
  if (g_dead.load()) return SQLITE_IOERR_TRUNCATE;
  FileState& st = state_of(f);
  remember(f, st, size, real_size(f));
  ++st.truncates;
  return real(f)->pMethods->xTruncate(real(f), size);
}

// No real fsync: what survives a cut is this layer's model, not the test
// machine's disk, and a test of hundreds of runs need not wait for the disk.
int x_sync(sqlite3_file* f, int /*flags*/) {
  if (g_dead.load()) return SQLITE_IOERR_FSYNC;
  if (!tracked(f)) return SQLITE_OK;
  std::lock_guard lock(g_mu);
  if (g_dead.load()) return SQLITE_IOERR_FSYNC;
  FileState& st = state_of(f);
  st = FileState{real_size(f), {}, 0, 0};
  const std::uint64_t number = ++g_counts.syncs;
  if (g_plan.event == Event::kSync && number == g_plan.n) {
    cut("cut after sync " + std::to_string(number) + " (" + me(f)->name + ")");
  }
  return SQLITE_OK;
}

int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  if (g_dead.load()) return SQLITE_IOERR_FSTAT;
  return real(f)->pMethods->xFileSize(real(f), size);
}
int x_lock(sqlite3_file* f, int l) { return real(f)->pMethods->xLock(real(f), l); }
int x_unlock(sqlite3_file* f, int l) { return real(f)->pMethods->xUnlock(real(f), l); }
int x_check_reserved(sqlite3_file* f, int* out) {
  return real(f)->pMethods->xCheckReservedLock(real(f), out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
  // A size hint may extend the file with writes that bypass xWrite.
  if (g_dead.load() && op == SQLITE_FCNTL_SIZE_HINT) return SQLITE_IOERR_WRITE;
  return real(f)->pMethods->xFileControl(real(f), op, arg);
}
int x_sector_size(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
int x_device(sqlite3_file* f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); }
int x_shm_map(sqlite3_file* f, int page, int size, int extend, void volatile** p) {
  if (g_dead.load()) {
    *p = nullptr;
    return SQLITE_IOERR_SHMMAP;
  }
  return real(f)->pMethods->xShmMap(real(f), page, size, extend, p);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real(f)->pMethods->xShmLock(real(f), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); }
int x_shm_unmap(sqlite3_file* f, int del) { return real(f)->pMethods->xShmUnmap(real(f), del); }
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** p) {
  if (g_dead.load()) {
    *p = nullptr;  // no mapping: SQLite falls back to xRead, which fails
    return SQLITE_OK;
  }
  return real(f)->pMethods->xFetch(real(f), off, n, p);
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  return real(f)->pMethods->xUnfetch(real(f), off, p);
}

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  File* file = me(f);
  file->real = reinterpret_cast<sqlite3_file*>(file + 1);
  file->name = name;
  file->base.pMethods = nullptr;
  if (g_dead.load()) return SQLITE_CANTOPEN;
  const int rc = g_real->xOpen(g_real, name, file->real, flags, out_flags);
  file->base.pMethods = file->real->pMethods != nullptr ? &g_io : nullptr;
  if (rc == SQLITE_OK && name != nullptr && (flags & SQLITE_OPEN_MAIN_DB) != 0 &&
      g_armed.load()) {
    std::lock_guard lock(g_mu);
    g_main_dbs.insert(name);
  }
  return rc;
}
int x_delete(sqlite3_vfs*, const char* name, int sync) {
  if (g_dead.load()) return SQLITE_IOERR_DELETE;
  if (g_armed.load()) {
    std::lock_guard lock(g_mu);
    g_files.erase(name);  // gone for good; a new file of that name starts empty
  }
  return g_real->xDelete(g_real, name, sync);
}
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real->xAccess(g_real, name, flags, out);
}
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real->xFullPathname(g_real, name, n, out);
}
void* x_dl_open(sqlite3_vfs*, const char* name) { return g_real->xDlOpen(g_real, name); }
void x_dl_error(sqlite3_vfs*, int n, char* msg) { g_real->xDlError(g_real, n, msg); }
void (*x_dl_sym(sqlite3_vfs*, void* h, const char* sym))(void) {
  return g_real->xDlSym(g_real, h, sym);
}
void x_dl_close(sqlite3_vfs*, void* h) { g_real->xDlClose(g_real, h); }
int x_randomness(sqlite3_vfs*, int n, char* out) { return g_real->xRandomness(g_real, n, out); }
int x_sleep(sqlite3_vfs*, int us) { return g_real->xSleep(g_real, us); }
int x_current_time(sqlite3_vfs*, double* t) { return g_real->xCurrentTime(g_real, t); }
int x_last_error(sqlite3_vfs*, int n, char* msg) { return g_real->xGetLastError(g_real, n, msg); }
int x_current_time64(sqlite3_vfs*, sqlite3_int64* t) {
  return g_real->xCurrentTimeInt64(g_real, t);
}

// Plain POSIX, after every connection is closed.
void put_back(const std::string& path, std::int64_t offset, const std::vector<std::uint8_t>& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;  // deleted since: nothing to restore
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done,
                               static_cast<off_t>(offset + static_cast<std::int64_t>(done)));
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

}  // namespace

void install() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_real = sqlite3_vfs_find("unix");
    g_io = sqlite3_io_methods{3,           x_close,          x_read,         x_write,
                              x_truncate,  x_sync,           x_file_size,    x_lock,
                              x_unlock,    x_check_reserved, x_file_control, x_sector_size,
                              x_device,    x_shm_map,        x_shm_lock,     x_shm_barrier,
                              x_shm_unmap, x_fetch,          x_unfetch};
    std::memset(&g_vfs, 0, sizeof g_vfs);
    g_vfs.iVersion = 2;
    g_vfs.szOsFile = static_cast<int>(sizeof(File)) + g_real->szOsFile;
    g_vfs.mxPathname = g_real->mxPathname;
    g_vfs.zName = "cybexp-crash";
    g_vfs.xOpen = x_open;
    g_vfs.xDelete = x_delete;
    g_vfs.xAccess = x_access;
    g_vfs.xFullPathname = x_full_pathname;
    g_vfs.xDlOpen = x_dl_open;
    g_vfs.xDlError = x_dl_error;
    g_vfs.xDlSym = x_dl_sym;
    g_vfs.xDlClose = x_dl_close;
    g_vfs.xRandomness = x_randomness;
    g_vfs.xSleep = x_sleep;
    g_vfs.xCurrentTime = x_current_time;
    g_vfs.xGetLastError = x_last_error;
    g_vfs.xCurrentTimeInt64 = x_current_time64;
    sqlite3_vfs_register(&g_vfs, /*makeDflt=*/0);
  });
}

Session::Session() : previous_(sqlite3_vfs_find(nullptr)) {
  install();
  sqlite3_vfs_register(&g_vfs, /*makeDflt=*/1);
}

Session::~Session() {
  sqlite3_vfs_register(static_cast<sqlite3_vfs*>(previous_), /*makeDflt=*/1);
}

void arm(const Plan& plan) {
  std::lock_guard lock(g_mu);
  g_plan = plan;
  g_counts = {};
  g_files.clear();
  g_main_dbs.clear();
  g_torn.reset();
  g_cut.clear();
  g_dead.store(false);
  g_armed.store(true);
}

bool power_lost() { return g_dead.load(); }

Counts counts() {
  std::lock_guard lock(g_mu);
  return g_counts;
}

std::string reboot() {
  std::lock_guard lock(g_mu);
  std::string line = g_cut.empty() ? "no cut (the run ended first)" : g_cut;
  std::uint64_t writes = 0, truncates = 0, files = 0;
  for (auto& [path, st] : g_files) {
    if (st.writes + st.truncates > 0) ++files;
    writes += st.writes;
    truncates += st.truncates;
    if (g_cut.empty()) continue;  // no power loss: everything written stays
    for (auto it = st.undo.rbegin(); it != st.undo.rend(); ++it) put_back(path, it->offset, it->old);
    if (::truncate(path.c_str(), static_cast<off_t>(st.durable_size)) != 0 && errno != ENOENT) {
      line += "; cannot truncate " + path + ": " + std::strerror(errno);
    }
  }
  if (!g_cut.empty()) {
    if (g_torn) put_back(g_torn->path, g_torn->offset, g_torn->prefix);
    for (const std::string& db : g_main_dbs) ::unlink((db + "-shm").c_str());
    line += "; dropped " + std::to_string(writes) + " writes, " + std::to_string(truncates) +
            " truncates in " + std::to_string(files) + " files";
  }
  g_files.clear();
  g_main_dbs.clear();
  g_torn.reset();
  g_cut.clear();
  g_armed.store(false);
  g_dead.store(false);
  return line;
}

}  // namespace cybexp::testing::crash
