// Firmware version reported in the birth message and heartbeat ("fw", at most 32 characters).
#pragma once

#ifndef FLEET_FW_VERSION
#define FLEET_FW_VERSION "1.0.0"
#endif

namespace fleet {
constexpr const char* kFirmwareVersion = FLEET_FW_VERSION;
}  // namespace fleet
