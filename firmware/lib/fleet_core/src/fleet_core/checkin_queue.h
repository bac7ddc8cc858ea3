// Check-ins kept in flash until the controller acks them. Each entry lives in its own storage
// slot q000..q{capacity-1}, chosen as seq % capacity: unacked seqs are always a contiguous run
// no longer than the capacity (a full queue refuses new check-ins), so slots never collide and
// one check-in costs one small write, not a rewrite of the whole queue. The next seq is stored
// too, so seqs keep rising across reboots.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "fleet_core/limits.h"
#include "fleet_core/ports.h"

namespace fleet {

struct QueuedCheckin {
  std::uint32_t seq = 0;
  std::uint32_t session_id = 0;
  std::string student_id;
  std::string station_mac;  // "" when unknown
  std::uint32_t uptime_ms = 0;
};

// One entry as a storage blob (format byte, little-endian fields) and back.
std::string encodeQueuedCheckin(const QueuedCheckin& entry);
std::optional<QueuedCheckin> decodeQueuedCheckin(const std::string& blob);

enum class PushResult { kOk, kFull, kStorageError };

class CheckinQueue {
 public:
  explicit CheckinQueue(Storage& storage, std::size_t capacity = kQueueCapacity);

  // Reads every slot (a reboot); unreadable or misplaced slots are erased. Returns the count.
  std::size_t load();
  // Stores a new check-in under the next seq (written to `seq` when given).
  PushResult push(std::uint32_t session_id, const std::string& student_id,
                  const std::string& station_mac, std::uint32_t uptime_ms,
                  std::uint32_t* seq = nullptr);
  // Drops every entry with seq <= upto (a cumulative ack). Returns how many.
  std::size_t dropUpto(std::uint32_t upto);

  const std::deque<QueuedCheckin>& entries() const { return entries_; }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  bool full() const { return entries_.size() >= capacity_; }
  std::size_t capacity() const { return capacity_; }
  std::uint32_t nextSeq() const { return next_seq_; }

 private:
  Storage& storage_;
  std::size_t capacity_;
  std::deque<QueuedCheckin> entries_;  // rising seq
  std::uint32_t next_seq_ = 1;
};

}  // namespace fleet
