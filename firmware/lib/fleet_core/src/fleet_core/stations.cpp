#include "fleet_core/stations.h"

#include <algorithm>

namespace fleet {

StationTable::StationTable(bool recycle, std::size_t capacity)
    : recycle_(recycle), capacity_(capacity) {
  stations_.reserve(capacity);
}

void StationTable::reset() {
  done_phones_.clear();
  stats_ = StationStats();
  stats_.peak = static_cast<std::uint32_t>(stations_.size());
}

StationJoin StationTable::join(const std::string& station, std::uint32_t now_ms) {
  if (find(station) != nullptr) return StationJoin::kAlready;
  if (stations_.size() >= capacity_) {
    if (stats_.refused < kCounterMax) ++stats_.refused;
    return StationJoin::kRefused;
  }
  add(station, now_ms);
  return StationJoin::kJoined;
}

void StationTable::leave(const std::string& station) {
  stations_.erase(std::remove_if(stations_.begin(), stations_.end(),
                                 [&station](const Station& s) { return s.key == station; }),
                  stations_.end());
}

bool StationTable::request(const std::string& station, std::uint32_t now_ms) {
  Station* known = find(station);
  if (known == nullptr) {
    if (stations_.size() >= capacity_) return false;
    add(station, now_ms);
    known = &stations_.back();
  }
  if (known->state == StationState::kCheckedIn) return true;  // its grace runs on
  known->state = StationState::kPortal;
  known->since_ms = now_ms;
  return false;
}

void StationTable::checkedIn(const std::string& station, bool stored, std::uint32_t now_ms) {
  if (stored && stats_.checkins_served < kCounterMax) ++stats_.checkins_served;
  done_phones_.insert(station);
  Station* known = find(station);
  if (known == nullptr || known->state == StationState::kCheckedIn) return;
  known->state = StationState::kCheckedIn;
  known->since_ms = now_ms;
}

std::vector<std::string> StationTable::expire(std::uint32_t now_ms) {
  std::vector<std::string> released;
  if (!recycle_) return released;
  for (const Station& s : stations_) {
    const std::uint32_t age = now_ms - s.since_ms;  // unsigned: millis() may wrap
    const bool done = s.state == StationState::kCheckedIn && age >= kReleaseGraceMs;
    const bool idle = s.state != StationState::kCheckedIn && age >= kStationIdleMs;
    if (done || idle) released.push_back(s.key);
  }
  for (const std::string& key : released) leave(key);
  return released;
}

bool StationTable::associated(const std::string& station) const {
  return find(station) != nullptr;
}

StationState StationTable::state(const std::string& station) const {
  const Station* known = find(station);
  return known == nullptr ? StationState::kAssociated : known->state;
}

StationStats StationTable::stats() const {
  StationStats stats = stats_;
  stats.now = static_cast<std::uint32_t>(stations_.size());
  return stats;
}

StationTable::Station* StationTable::find(const std::string& station) {
  for (Station& s : stations_) {
    if (s.key == station) return &s;
  }
  return nullptr;
}

const StationTable::Station* StationTable::find(const std::string& station) const {
  for (const Station& s : stations_) {
    if (s.key == station) return &s;
  }
  return nullptr;
}

void StationTable::add(const std::string& station, std::uint32_t now_ms) {
  Station s;
  s.key = station;
  s.since_ms = now_ms;
  if (done_phones_.contains(station)) s.state = StationState::kCheckedIn;  // released after grace
  stations_.push_back(s);
  stats_.peak = std::max(stats_.peak, static_cast<std::uint32_t>(stations_.size()));
}

}  // namespace fleet
