// The boot counter kept in flash and raised at each boot (the Sparkplug bdSeq rule: an offline
// status from an older boot is stale).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "fleet_core/ports.h"

namespace fleet {

// Reads the stored count, adds one, stores it and returns it (1 on a fresh device). If flash
// cannot be written the raised value is still returned, so this boot is told apart in memory.
std::uint32_t raiseBootCounter(Storage& storage);

// Unsigned 32-bit values in storage: 4 bytes, little-endian.
std::string encodeU32(std::uint32_t value);
std::optional<std::uint32_t> decodeU32(const std::string& blob);
std::optional<std::uint32_t> loadU32(Storage& storage, const std::string& key);
bool storeU32(Storage& storage, const std::string& key, std::uint32_t value);

}  // namespace fleet
