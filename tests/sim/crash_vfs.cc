#include "sim/crash_vfs.h"

#include <sqlite3.h>

#include <cstring>
#include <map>
#include <mutex>

namespace offsync::sim {
namespace {

struct Fuse {
  int64_t writes_left = -1;  // -1: not armed
  bool blown = false;
};

std::mutex fuses_mu;
std::map<std::string, Fuse>& fuses() {
  static std::map<std::string, Fuse> all;
  return all;
}

// Whether a write to the file may happen; blows the fuse when its count runs out.
bool may_write(const std::string& path) {
  std::lock_guard<std::mutex> lock(fuses_mu);
  for (auto& [dir, fuse] : fuses()) {
    if (path.compare(0, dir.size(), dir) != 0) continue;
    if (fuse.blown) return false;
    if (fuse.writes_left > 0 && --fuse.writes_left == 0) {
      fuse.blown = true;
      return false;
    }
  }
  return true;
}

struct CrashFile {
  sqlite3_file base;
  sqlite3_file* real;
  std::string* path;  // owned
};

sqlite3_vfs* real_vfs() { return sqlite3_vfs_find(nullptr); }
CrashFile* of(sqlite3_file* f) { return reinterpret_cast<CrashFile*>(f); }
sqlite3_file* real(sqlite3_file* f) { return of(f)->real; }

int x_close(sqlite3_file* f) {
  int rc = real(f)->pMethods ? real(f)->pMethods->xClose(real(f)) : SQLITE_OK;
  delete of(f)->path;
  return rc;
}
int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 at) { return real(f)->pMethods->xRead(real(f), buf, n, at); }
int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 at) {
  if (!may_write(*of(f)->path)) return SQLITE_IOERR_WRITE;
  return real(f)->pMethods->xWrite(real(f), buf, n, at);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (!may_write(*of(f)->path)) return SQLITE_IOERR_TRUNCATE;
  return real(f)->pMethods->xTruncate(real(f), size);
}
int x_sync(sqlite3_file* f, int flags) {
  if (!may_write(*of(f)->path)) return SQLITE_IOERR_FSYNC;
  return real(f)->pMethods->xSync(real(f), flags);
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) { return real(f)->pMethods->xFileSize(real(f), size); }
int x_lock(sqlite3_file* f, int level) { return real(f)->pMethods->xLock(real(f), level); }
int x_unlock(sqlite3_file* f, int level) { return real(f)->pMethods->xUnlock(real(f), level); }
int x_check_reserved_lock(sqlite3_file* f, int* out) { return real(f)->pMethods->xCheckReservedLock(real(f), out); }
int x_file_control(sqlite3_file* f, int op, void* arg) { return real(f)->pMethods->xFileControl(real(f), op, arg); }
int x_sector_size(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
int x_device_characteristics(sqlite3_file* f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); }
int x_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return real(f)->pMethods->xShmMap(real(f), region, size, extend, out);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) { return real(f)->pMethods->xShmLock(real(f), offset, n, flags); }
void x_shm_barrier(sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); }
int x_shm_unmap(sqlite3_file* f, int del) { return real(f)->pMethods->xShmUnmap(real(f), del); }
int x_fetch(sqlite3_file* f, sqlite3_int64 at, int n, void** out) {
  *out = nullptr;  // no memory-mapped reads: every page goes through xRead
  (void)f, (void)at, (void)n;
  return SQLITE_OK;
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 at, void* p) {
  (void)f, (void)at, (void)p;
  return SQLITE_OK;
}

const sqlite3_io_methods kMethods = {3,
                                     x_close,
                                     x_read,
                                     x_write,
                                     x_truncate,
                                     x_sync,
                                     x_file_size,
                                     x_lock,
                                     x_unlock,
                                     x_check_reserved_lock,
                                     x_file_control,
                                     x_sector_size,
                                     x_device_characteristics,
                                     x_shm_map,
                                     x_shm_lock,
                                     x_shm_barrier,
                                     x_shm_unmap,
                                     x_fetch,
                                     x_unfetch};

int x_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  (void)vfs;
  CrashFile* file = of(f);
  file->real = reinterpret_cast<sqlite3_file*>(file + 1);
  file->path = new std::string(name ? name : "");
  int rc = real_vfs()->xOpen(real_vfs(), name, file->real, flags, out_flags);
  file->base.pMethods = rc == SQLITE_OK ? &kMethods : nullptr;
  if (rc != SQLITE_OK) {
    delete file->path;
    file->path = nullptr;
  }
  return rc;
}
int x_delete(sqlite3_vfs*, const char* name, int sync) {
  if (name && !may_write(name)) return SQLITE_IOERR_DELETE;
  return real_vfs()->xDelete(real_vfs(), name, sync);
}
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) { return real_vfs()->xAccess(real_vfs(), name, flags, out); }
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return real_vfs()->xFullPathname(real_vfs(), name, n, out);
}
void* x_dl_open(sqlite3_vfs*, const char* name) { return real_vfs()->xDlOpen(real_vfs(), name); }
void x_dl_error(sqlite3_vfs*, int n, char* out) { real_vfs()->xDlError(real_vfs(), n, out); }
void (*x_dl_sym(sqlite3_vfs*, void* handle, const char* symbol))(void) { return real_vfs()->xDlSym(real_vfs(), handle, symbol); }
void x_dl_close(sqlite3_vfs*, void* handle) { real_vfs()->xDlClose(real_vfs(), handle); }
int x_randomness(sqlite3_vfs*, int n, char* out) { return real_vfs()->xRandomness(real_vfs(), n, out); }
int x_sleep(sqlite3_vfs*, int us) { return real_vfs()->xSleep(real_vfs(), us); }
int x_current_time(sqlite3_vfs*, double* out) { return real_vfs()->xCurrentTime(real_vfs(), out); }
int x_get_last_error(sqlite3_vfs*, int n, char* out) { return real_vfs()->xGetLastError(real_vfs(), n, out); }
int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) { return real_vfs()->xCurrentTimeInt64(real_vfs(), out); }

}  // namespace

const char* CrashVfs::name() {
  static const char* registered = [] {
    static sqlite3_vfs vfs;
    std::memset(&vfs, 0, sizeof vfs);
    sqlite3_vfs* base = real_vfs();
    vfs.iVersion = 2;
    vfs.szOsFile = static_cast<int>(sizeof(CrashFile)) + base->szOsFile;
    vfs.mxPathname = base->mxPathname;
    vfs.zName = "offsync-sim-crash";
    vfs.xOpen = x_open;
    vfs.xDelete = x_delete;
    vfs.xAccess = x_access;
    vfs.xFullPathname = x_full_pathname;
    vfs.xDlOpen = x_dl_open;
    vfs.xDlError = x_dl_error;
    vfs.xDlSym = x_dl_sym;
    vfs.xDlClose = x_dl_close;
    vfs.xRandomness = x_randomness;
    vfs.xSleep = x_sleep;
    vfs.xCurrentTime = x_current_time;
    vfs.xGetLastError = x_get_last_error;
    vfs.xCurrentTimeInt64 = x_current_time_int64;
    sqlite3_vfs_register(&vfs, 0);
    return vfs.zName;
  }();
  return registered;
}

void CrashVfs::arm(const std::string& dir, int64_t writes) {
  std::lock_guard<std::mutex> lock(fuses_mu);
  fuses()[dir] = Fuse{writes, false};
}

bool CrashVfs::blown(const std::string& dir) {
  std::lock_guard<std::mutex> lock(fuses_mu);
  auto it = fuses().find(dir);
  return it != fuses().end() && it->second.blown;
}

void CrashVfs::reset(const std::string& dir) {
  std::lock_guard<std::mutex> lock(fuses_mu);
  fuses().erase(dir);
}

}  // namespace offsync::sim
