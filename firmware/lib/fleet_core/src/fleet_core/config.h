// The desired config a controller publishes (active session or idle): decoding, validation
// with a rejection reason for the state report, encoding (also the form kept in flash), and the
// version rule.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "fleet_core/decode_result.h"

namespace fleet {

struct SessionConfig {
  std::uint32_t session_id = 0;
  std::string course_code;
  std::string course_title;
  std::string session;
  std::string semester;
  std::string lecturer;
  std::string device_label;  // "device_id" on the wire: the session label, not the device id
  std::string device_name;
  std::string ssid;
  std::string password;
  std::string location;
};

struct ConfigMsg {
  std::uint32_t version = 0;  // 0: nothing applied yet (never on the wire)
  bool active_session = false;
  SessionConfig session;  // meaningful only when active_session
};

// Why `config` cannot be applied, in words for the state report; nothing when it is valid.
std::optional<std::string> validateConfig(const ConfigMsg& config);

// The version rule: apply only a version greater than the last applied one.
inline bool shouldApply(std::uint32_t incoming_version, std::uint32_t last_applied_version) {
  return incoming_version > last_applied_version;
}

// Just "version" (and the v1 envelope), so a config that fails validation can still be
// answered under its version, or ignored by the version rule first.
Decoded<std::uint32_t> peekConfigVersion(const std::uint8_t* data, std::size_t len);

// The whole config, checked like schemas/config.schema.json plus validateConfig().
Decoded<ConfigMsg> decodeConfig(const std::uint8_t* data, std::size_t len);

// Compact JSON; "" when it would exceed kMaxPayloadBytes.
std::string encodeConfig(const ConfigMsg& config);

}  // namespace fleet
