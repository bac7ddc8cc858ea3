#include "host_image.h"

#include <fstream>
#include <iostream>
#include <iterator>

#include "fleet_core/limits.h"
#include "fleet_core/semver.h"

namespace host {
namespace {

constexpr std::uint8_t kImageMagic = 0xE9;

void putU32(std::string& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

std::uint32_t getU32(const std::string& in, std::size_t at) {
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<std::uint8_t>(in[at + i]);
  return value;
}

}  // namespace

std::string packImage(const std::string& executable, const std::string& version) {
  // esp_image_header_t as controller/core/firmware.py build_image writes it.
  std::string image = {static_cast<char>(kImageMagic), 1, 2, 0x20};
  putU32(image, 0x400D0000u);
  image.push_back(static_cast<char>(0xee));
  image.append(15, '\0');
  putU32(image, 0x3F400020u);
  putU32(image, static_cast<std::uint32_t>(kAppDescBytes + executable.size()));
  putU32(image, kAppDescMagic);
  image.append(12, '\0');  // secure_version, reserv1[2]
  std::string name = version;
  name.resize(32, '\0');
  image += name;
  return image + executable;
}

std::optional<ImageLayout> parseImage(const std::string& head, std::size_t total,
                                      std::string& error) {
  if (head.size() < kImageBodyOffset || total < kImageBodyOffset) {
    error = "shorter than the image header";
    return std::nullopt;
  }
  if (static_cast<std::uint8_t>(head[0]) != kImageMagic || head[1] != 1) {
    error = "not an app image of one segment (magic 0xE9)";
    return std::nullopt;
  }
  const std::uint32_t segment = getU32(head, kImageHeaderBytes + 4);
  if (segment < kAppDescBytes || kImageHeaderBytes + kSegmentHeaderBytes + segment > total) {
    error = "the segment runs past the end of the image";
    return std::nullopt;
  }
  if (getU32(head, kImageHeaderBytes + kSegmentHeaderBytes) != kAppDescMagic) {
    error = "no app descriptor (esp_app_desc_t)";
    return std::nullopt;
  }
  const std::string raw = head.substr(kImageBodyOffset - 32, 32);
  ImageLayout layout;
  layout.version = raw.substr(0, raw.find('\0'));
  if (!fleet::parseSemver(layout.version)) {
    error = "the app descriptor's version is not semver";
    return std::nullopt;
  }
  layout.body_offset = kImageBodyOffset;
  layout.body_size = segment - kAppDescBytes;
  if (layout.body_size == 0) {
    error = "no executable in the image";
    return std::nullopt;
  }
  return layout;
}

int packMain(int argc, char** argv) {
  // fleet-device --pack EXECUTABLE --version V --out FILE (the two flags in either order)
  std::string version;
  std::string out;
  const std::string in = argc == 7 ? argv[2] : "";
  for (int i = 3; argc == 7 && i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--version") version = argv[i + 1];
    if (flag == "--out") out = argv[i + 1];
  }
  if (in.empty() || version.empty() || out.empty()) {
    std::cerr << "usage: fleet-device --pack EXECUTABLE --version SEMVER --out IMAGE.bin\n";
    return 2;
  }
  if (!fleet::parseSemver(version)) {
    std::cerr << "fleet-device: --version must be semver (MAJOR.MINOR.PATCH[-pre][+build], 5..31)\n";
    return 2;
  }
  std::ifstream file(in, std::ios::binary);
  if (!file) {
    std::cerr << "fleet-device: cannot read " << in << "\n";
    return 1;
  }
  const std::string executable((std::istreambuf_iterator<char>(file)),
                               std::istreambuf_iterator<char>());
  const std::string image = packImage(executable, version);
  if (executable.empty() || image.size() > fleet::kMaxImageBytes) {
    std::cerr << "fleet-device: the image must be 1.." << fleet::kMaxImageBytes
              << " bytes (strip the executable)\n";
    return 1;
  }
  std::ofstream sink(out, std::ios::binary | std::ios::trunc);
  sink.write(image.data(), static_cast<std::streamsize>(image.size()));
  if (!sink.flush()) {
    std::cerr << "fleet-device: cannot write " << out << "\n";
    return 1;
  }
  std::cout << out << ": " << image.size() << " bytes, version " << version << "\n";
  return 0;
}

}  // namespace host
