// offsync/durability.h — what a committed local write survives.
//
// Thread safety and ownership: a plain enum value.
#pragma once

namespace offsync {

// Persistent only as configuration; the database does not record it.
enum class Durability {
  // SQLite WAL with synchronous=FULL: the WAL is fsynced at every commit, so every write the API
  // acknowledged survives a process kill, an OS crash and a power loss. Costs one fsync per write.
  kFull = 0,
  // SQLite WAL with synchronous=NORMAL: the WAL is fsynced only at checkpoints. Every acknowledged
  // write survives a process kill (SIGKILL, an app killed by the OS); an OS crash or a power loss
  // may lose the last acknowledged writes, never corrupt the database. Several times faster.
  kNormal = 1,
};

}  // namespace offsync
