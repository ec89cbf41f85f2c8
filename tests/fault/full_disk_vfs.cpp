// See full_disk_vfs.h. A shim VFS over the platform's default one; every
// method forwards, and xWrite fails with SQLITE_FULL while the disk is "full".
#include "fault/full_disk_vfs.h"

#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>

namespace cybexp::testing::full_disk {
namespace {

std::atomic<bool> g_full{false};
std::atomic<int> g_refused{0};
std::mutex g_prefix_mu;
std::string g_prefix;  // only files whose path starts with this fill up
sqlite3_vfs* g_real = nullptr;
sqlite3_vfs g_vfs;
sqlite3_io_methods g_io;

// Our file object: the real VFS's file follows it in the same allocation.
struct File {
  sqlite3_file base;
  sqlite3_file* real;
  const char* name;  // SQLite keeps xOpen's name valid until xClose; null for temp files
};

bool is_full(const File* f) {
  if (!g_full.load()) return false;
  std::lock_guard lock(g_prefix_mu);
  return g_prefix.empty() ||
         (f->name != nullptr && std::string_view(f->name).starts_with(g_prefix));
}

sqlite3_file* real(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }

int x_close(sqlite3_file* f) { return real(f)->pMethods->xClose(real(f)); }
int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  return real(f)->pMethods->xRead(real(f), buf, n, off);
}
int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  if (is_full(reinterpret_cast<const File*>(f))) {
    ++g_refused;
    return SQLITE_FULL;
  }
  return real(f)->pMethods->xWrite(real(f), buf, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  return real(f)->pMethods->xTruncate(real(f), size);
}
int x_sync(sqlite3_file* f, int flags) { return real(f)->pMethods->xSync(real(f), flags); }
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return real(f)->pMethods->xFileSize(real(f), size);
}
int x_lock(sqlite3_file* f, int l) { return real(f)->pMethods->xLock(real(f), l); }
int x_unlock(sqlite3_file* f, int l) { return real(f)->pMethods->xUnlock(real(f), l); }
int x_check_reserved(sqlite3_file* f, int* out) {
  return real(f)->pMethods->xCheckReservedLock(real(f), out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
  return real(f)->pMethods->xFileControl(real(f), op, arg);
}
int x_sector_size(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
int x_device(sqlite3_file* f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); }
int x_shm_map(sqlite3_file* f, int page, int size, int extend, void volatile** p) {
  return real(f)->pMethods->xShmMap(real(f), page, size, extend, p);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real(f)->pMethods->xShmLock(real(f), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); }
int x_shm_unmap(sqlite3_file* f, int del) { return real(f)->pMethods->xShmUnmap(real(f), del); }
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** p) {
  return real(f)->pMethods->xFetch(real(f), off, n, p);
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  return real(f)->pMethods->xUnfetch(real(f), off, p);
}

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  File* file = reinterpret_cast<File*>(f);
  file->real = reinterpret_cast<sqlite3_file*>(file + 1);
  file->name = name;
  const int rc = g_real->xOpen(g_real, name, file->real, flags, out_flags);
  // SQLite calls xClose only when pMethods is set, so set it only when the
  // real file is open.
  file->base.pMethods = file->real->pMethods != nullptr ? &g_io : nullptr;
  return rc;
}
int x_delete(sqlite3_vfs*, const char* name, int sync) {
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

}  // namespace

void install() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_real = sqlite3_vfs_find(nullptr);
    g_io = sqlite3_io_methods{3,           x_close,          x_read,         x_write,
                              x_truncate,  x_sync,           x_file_size,    x_lock,
                              x_unlock,    x_check_reserved, x_file_control, x_sector_size,
                              x_device,    x_shm_map,        x_shm_lock,     x_shm_barrier,
                              x_shm_unmap, x_fetch,          x_unfetch};
    std::memset(&g_vfs, 0, sizeof g_vfs);
    g_vfs.iVersion = 2;
    g_vfs.szOsFile = static_cast<int>(sizeof(File)) + g_real->szOsFile;
    g_vfs.mxPathname = g_real->mxPathname;
    g_vfs.zName = "cybexp-full-disk";
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
    sqlite3_vfs_register(&g_vfs, /*makeDflt=*/1);
  });
}

void set_full(bool full, const std::string& path_prefix) {
  {
    std::lock_guard lock(g_prefix_mu);
    g_prefix = path_prefix;
  }
  g_full.store(full);
}
int refused_writes() { return g_refused.load(); }

}  // namespace cybexp::testing::full_disk
