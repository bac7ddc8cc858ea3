// Device messages of the contract (status, heartbeat, state, attendance, attendance_ack) as
// plain structs, with encoders that add "v" and the sender "id" and decoders that check exactly
// what schemas/ requires. Encoders return "" when a message would exceed kMaxPayloadBytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fleet_core/decode_result.h"

namespace fleet {

struct StatusMsg {
  bool online = false;
  std::uint32_t boot = 0;
  std::optional<std::string> fw;
  std::optional<std::string> ip;
  std::optional<std::string> reason;
};

struct HeartbeatMsg {
  std::uint32_t boot = 0;
  std::uint32_t uptime_s = 0;
  std::optional<int> rssi;
  std::optional<std::uint32_t> heap;
  std::optional<std::string> fw;
  std::optional<std::uint32_t> config_version;
  std::optional<std::uint32_t> stations;
  std::optional<std::uint32_t> queued;
  // Slot use of the current session (stations.h).
  std::optional<std::uint32_t> stations_peak;
  std::optional<std::uint32_t> stations_refused;
  std::optional<std::uint32_t> checkins_served;
  // Firmware images refused for a wrong SHA-256, signature or descriptor (update_agent.h).
  std::optional<std::uint32_t> images_refused;
};

enum class ApplyResult { kApplied, kRejected };

struct StateMsg {
  std::uint32_t config_version = 0;
  ApplyResult result = ApplyResult::kApplied;
  // applied:
  bool active_session = false;
  std::uint32_t session_id = 0;  // active only
  std::string ssid;              // active only
  // rejected:
  std::string error;
  std::optional<std::uint32_t> applied_version;
};

struct CheckinEvent {
  std::uint32_t seq = 0;
  std::string student_id;
  std::optional<std::string> station_mac;
  std::optional<std::uint32_t> uptime_ms;
};

struct AttendanceMsg {
  std::uint32_t session_id = 0;
  std::vector<CheckinEvent> events;
};

struct AckMsg {
  std::uint32_t upto = 0;
};

std::string encodeStatus(const std::string& device_id, const StatusMsg& msg);
std::string encodeHeartbeat(const std::string& device_id, const HeartbeatMsg& msg);
std::string encodeState(const std::string& device_id, const StateMsg& msg);
std::string encodeAttendance(const std::string& device_id, const AttendanceMsg& msg);
std::string encodeAck(const AckMsg& msg);

// `expected_id`: the {id} of the topic; a payload "id" that differs is rejected as id_mismatch.
Decoded<StatusMsg> decodeStatus(const std::uint8_t* data, std::size_t len,
                                const std::string* expected_id = nullptr);
Decoded<HeartbeatMsg> decodeHeartbeat(const std::uint8_t* data, std::size_t len,
                                      const std::string* expected_id = nullptr);
Decoded<StateMsg> decodeState(const std::uint8_t* data, std::size_t len,
                              const std::string* expected_id = nullptr);
Decoded<AttendanceMsg> decodeAttendance(const std::uint8_t* data, std::size_t len,
                                        const std::string* expected_id = nullptr);
Decoded<AckMsg> decodeAck(const std::uint8_t* data, std::size_t len);

}  // namespace fleet
