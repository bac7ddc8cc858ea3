// Turns queued check-ins into attendance messages: consecutive entries of one session, at most
// kMaxEventsPerBatch events and at most kMaxPayloadBytes of JSON each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "fleet_core/checkin_queue.h"

namespace fleet {

struct AttendanceBatch {
  std::string payload;
  std::uint32_t session_id = 0;
  std::uint32_t first_seq = 0;
  std::uint32_t last_seq = 0;
  std::size_t count = 0;
};

// The batch that starts at entries[from]; nothing when from is past the end.
std::optional<AttendanceBatch> buildBatch(const std::string& device_id,
                                          const std::deque<QueuedCheckin>& entries,
                                          std::size_t from);

}  // namespace fleet
