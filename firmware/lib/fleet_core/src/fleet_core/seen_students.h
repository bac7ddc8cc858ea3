// Which students already checked in during the current session, so the portal can say
// "already checked in" at once. Keeps 64-bit FNV-1a hashes (8 bytes per student) in a sorted
// vector, bounded by kMaxSeenStudents; the controller stays the authority (it stores one row per
// session and student), so a full set only means a repeat is queued and deduplicated there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fleet_core/limits.h"

namespace fleet {

class SeenStudents {
 public:
  explicit SeenStudents(std::size_t capacity = kMaxSeenStudents) : capacity_(capacity) {}

  // Starts over for `session_id` (0: no session).
  void reset(std::uint32_t session_id);
  // Forgets every entry, with no session: for a set keyed by something other than a session's
  // students (the done phones of a StationTable).
  void clear() { reset(0); }
  bool contains(const std::string& student_id) const;
  // False when the set is full (the student is then not remembered).
  bool insert(const std::string& student_id);

  std::uint32_t session() const { return session_id_; }
  std::size_t size() const { return hashes_.size(); }

 private:
  static std::uint64_t hash(const std::string& text);

  std::size_t capacity_;
  std::uint32_t session_id_ = 0;
  std::vector<std::uint64_t> hashes_;  // sorted
};

}  // namespace fleet
