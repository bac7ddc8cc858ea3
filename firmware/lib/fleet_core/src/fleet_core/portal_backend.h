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
  bool releases_stations = false;  // a phone that is done is disconnected (slot recycling)
};

class PortalBackend {
 public:
  virtual ~PortalBackend() = default;
  virtual PortalSnapshot snapshot() const = 0;
  // A portal request from `station` (the access point's name for the phone: its MAC on the ESP32,
  // its address on the host; "" when unknown). True when that phone is done: it checked in (or
  // was told it had) this session, and is shown the "already checked in" page.
  virtual bool stationRequest(const std::string& station) = 0;
  // `station_mac` goes into the check-in event; `station` is released once it is done.
  virtual CheckinResult checkin(const std::string& student_id, const std::string& station_mac,
                                const std::string& station) = 0;
};

}  // namespace fleet
