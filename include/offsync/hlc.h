// offsync/hlc.h — hybrid logical clock timestamps, assigned by the server at ingest.
//
// An Hlc orders events by (physical milliseconds, logical counter, node id). Its text form
// "PPPPPPPPPPPPPPP-LLLLLLLLLL-node" (15 and 10 zero-padded digits) sorts as the value does, so
// stores and clients may compare HLC strings directly. Client clocks never enter an HLC.
//
// Thread safety: Hlc is a value. HlcClock is safe for concurrent use.
//
// Ownership: an HlcClock reads the Clock it was given, which must outlive it.
#pragma once

#include <compare>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "offsync/clock.h"
#include "offsync/status.h"

namespace offsync {

struct Hlc {
  int64_t physical_ms = 0;
  uint32_t logical = 0;
  std::string node;

  std::string to_string() const;
  static Result<Hlc> parse(std::string_view text);
  friend auto operator<=>(const Hlc&, const Hlc&) = default;
  friend bool operator==(const Hlc&, const Hlc&) = default;
};

// Issues strictly increasing HLCs for one node, even when the wall clock steps back: the physical
// part never decreases and the logical counter breaks ties.
class HlcClock {
 public:
  HlcClock(const Clock& clock, std::string node) : clock_(clock), node_(std::move(node)) {}
  // Never issue anything at or below `floor` (e.g. the newest HLC already stored, after a restart).
  void observe(const Hlc& floor);
  Hlc now();
  const std::string& node() const { return node_; }

 private:
  const Clock& clock_;
  std::string node_;
  std::mutex mu_;
  int64_t last_physical_ = 0;  // GUARDED_BY(mu_)
  uint32_t last_logical_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace offsync
