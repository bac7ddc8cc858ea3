#include "fleet_core/seen_students.h"

#include <algorithm>

namespace fleet {

std::uint64_t SeenStudents::hash(const std::string& text) {
  std::uint64_t h = 14695981039346656037ull;
  for (char c : text) {
    h ^= static_cast<std::uint8_t>(c);
    h *= 1099511628211ull;
  }
  return h;
}

void SeenStudents::reset(std::uint32_t session_id) {
  session_id_ = session_id;
  hashes_.clear();
}

bool SeenStudents::contains(const std::string& student_id) const {
  return std::binary_search(hashes_.begin(), hashes_.end(), hash(student_id));
}

bool SeenStudents::insert(const std::string& student_id) {
  const std::uint64_t h = hash(student_id);
  const auto at = std::lower_bound(hashes_.begin(), hashes_.end(), h);
  if (at != hashes_.end() && *at == h) return true;
  if (hashes_.size() >= capacity_) return false;
  hashes_.insert(at, h);
  return true;
}

}  // namespace fleet
