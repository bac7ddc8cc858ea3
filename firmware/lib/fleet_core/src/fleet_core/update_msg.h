// The firmware update messages of the contract: the retained `update` command the controller
// publishes (decoded as schemas/update.schema.json requires) and the `update_state` the device
// reports (encoded). Plain structs; the state machine is update_agent.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "fleet_core/decode_result.h"

namespace fleet {

struct UpdateCommand {
  std::string version;    // semver, 5..31 characters
  std::string url;        // http:// or https://, printable ASCII without spaces
  std::uint32_t size = 0; // 1..kMaxImageBytes
  std::string sha256;     // 64 lowercase hex
  std::string signature;  // base64 of a DER ECDSA-Sig-Value over the SHA-256
  bool allow_downgrade = false;
};

enum class UpdatePhase { kDownloading, kVerifying, kRebooting, kConfirmed, kFailed, kRolledBack };

// "downloading", "verifying", ...
const char* updatePhaseName(UpdatePhase phase);

struct UpdateStateMsg {
  std::string version;  // the version the command named
  UpdatePhase phase = UpdatePhase::kDownloading;
  std::optional<std::uint32_t> percent;  // downloading
  std::optional<std::string> reason;     // failed (required), rolled_back (optional)
  std::optional<std::string> running;    // the version the device runs now
};

// The command; an empty payload (a withdrawn command) is not decoded here.
Decoded<UpdateCommand> decodeUpdate(const std::uint8_t* data, std::size_t len);

// Compact JSON with "v" and "id"; "" when it would exceed kMaxPayloadBytes.
std::string encodeUpdateState(const std::string& device_id, const UpdateStateMsg& msg);

}  // namespace fleet
