#include "fleet_core/attendance_batch.h"

#include <utility>

#include "fleet_core/limits.h"
#include "fleet_core/messages.h"

namespace fleet {
namespace {

CheckinEvent toEvent(const QueuedCheckin& entry) {
  CheckinEvent event;
  event.seq = entry.seq;
  event.student_id = entry.student_id;
  if (!entry.station_mac.empty()) event.station_mac = entry.station_mac;
  event.uptime_ms = entry.uptime_ms;
  return event;
}

}  // namespace

std::optional<AttendanceBatch> buildBatch(const std::string& device_id,
                                          const std::deque<QueuedCheckin>& entries,
                                          std::size_t from) {
  if (from >= entries.size()) return std::nullopt;
  AttendanceMsg msg;
  msg.session_id = entries[from].session_id;
  AttendanceBatch batch;
  batch.session_id = msg.session_id;
  batch.first_seq = entries[from].seq;
  for (std::size_t i = from; i < entries.size(); ++i) {
    const QueuedCheckin& entry = entries[i];
    if (entry.session_id != msg.session_id || msg.events.size() >= kMaxEventsPerBatch) break;
    msg.events.push_back(toEvent(entry));
    std::string payload = encodeAttendance(device_id, msg);  // "" once over the size limit
    if (payload.empty()) {
      msg.events.pop_back();
      break;
    }
    batch.payload = std::move(payload);
    batch.last_seq = entry.seq;
    batch.count = msg.events.size();
  }
  if (batch.count == 0) return std::nullopt;
  return batch;
}

}  // namespace fleet
