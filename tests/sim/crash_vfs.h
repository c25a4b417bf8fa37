// A SQLite VFS over the default one whose writes stop at a chosen point, as if the process had
// died there (the simulation's crash injection, through ClientOptions::vfs): once the fuse of a
// directory blows, every write, sync and truncate of a file under it fails, so nothing the "dead"
// process would have done afterwards reaches its files. Reopening the store recovers, as after a
// real crash (the WAL's uncommitted frames are ignored).
#pragma once

#include <cstdint>
#include <string>

namespace offsync::sim {

class CrashVfs {
 public:
  // Registers the VFS (once) and returns its name.
  static const char* name();
  // The `writes`-th file write (or sync) from now under dir blows the fuse (writes >= 1).
  static void arm(const std::string& dir, int64_t writes);
  static bool blown(const std::string& dir);
  // Writes go through again (the process was restarted).
  static void reset(const std::string& dir);
};

}  // namespace offsync::sim
