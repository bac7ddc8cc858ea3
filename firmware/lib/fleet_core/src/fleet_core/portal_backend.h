// What the captive portal needs from the device: a snapshot to show and a check-in action.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "fleet_core/config.h"

namespace fleet {

enum class CheckinResult {
  kCheckedIn,
  kAlreadyCheckedIn,
  kNoActiveSession,
  kBadStudentId,
  kQueueFull,
  kStorageError,
};

// "checked_in", "already_checked_in", ...
const char* checkinResultName(CheckinResult result);

struct PortalSnapshot {
  bool active_session = false;
  SessionConfig session;  // when active_session
  std::uint32_t applied_version = 0;
  bool connected = false;                         // to the broker, so the controller hears from us
  std::optional<std::uint32_t> rejected_version;  // a newer config this device refused
  std::string rejected_error;
  std::size_t queued = 0;  // check-ins not yet acked
};

class PortalBackend {
 public:
  virtual ~PortalBackend() = default;
  virtual PortalSnapshot snapshot() const = 0;
  virtual CheckinResult checkin(const std::string& student_id, const std::string& station_mac) = 0;
};

}  // namespace fleet
