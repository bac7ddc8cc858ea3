// Firmware versions: semver 2.0.0 text (MAJOR.MINOR.PATCH[-pre][+build], at most 31 characters,
// the contract's firmware_version) and its precedence, as the controller compares them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fleet {

struct Semver {
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  std::uint32_t patch = 0;
  std::vector<std::string> pre;  // dot-separated identifiers; empty: a release
};

// Nothing when `text` is not a valid firmware version (build metadata is checked, then dropped).
std::optional<Semver> parseSemver(const std::string& text);

// Semver precedence: <0, 0, >0. Build metadata does not count; a pre-release sorts before its
// release; numeric identifiers compare as numbers and below alphanumeric ones.
int compareSemver(const Semver& a, const Semver& b);

}  // namespace fleet
