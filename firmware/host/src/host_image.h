// The host port's firmware image: a Linux executable in ESP32 app-image framing, so the fleet's
// tools take it as they take an ESP32 image (`fleet firmware add` checks the header and reads the
// version from the app descriptor; controller/core/firmware.py build_image writes the same bytes):
//
//   0   esp_image_header_t (24 bytes): magic 0xE9, 1 segment, the rest as build_image writes it
//   24  esp_image_segment_header_t (8): load address, data length = 48 + executable size
//   32  esp_app_desc_t's first 48 bytes: magic_word 0xABCD5432, secure_version, reserv1[2],
//       version[32] (NUL-padded semver)
//   80  the executable, to the end of the segment
//
// The signature covers the SHA-256 of the whole file, as on the ESP32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace host {

constexpr std::size_t kImageHeaderBytes = 24;
constexpr std::size_t kSegmentHeaderBytes = 8;
constexpr std::size_t kAppDescBytes = 48;  // up to and with version[32]
constexpr std::size_t kImageBodyOffset = kImageHeaderBytes + kSegmentHeaderBytes + kAppDescBytes;
constexpr std::uint32_t kAppDescMagic = 0xABCD5432u;

struct ImageLayout {
  std::string version;     // the app descriptor's
  std::size_t body_offset = 0;
  std::size_t body_size = 0;  // the executable
};

// The packed image of `executable` as `version`.
std::string packImage(const std::string& executable, const std::string& version);

// The layout of `image`'s first bytes (at least kImageBodyOffset of a `total`-byte file);
// nothing when it is not a host image (the reason in `error`).
std::optional<ImageLayout> parseImage(const std::string& head, std::size_t total,
                                      std::string& error);

// fleet-device --pack EXECUTABLE --version V --out FILE: 0 on success.
int packMain(int argc, char** argv);

}  // namespace host
