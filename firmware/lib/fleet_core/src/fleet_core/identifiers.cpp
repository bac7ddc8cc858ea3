#include "fleet_core/identifiers.h"

#include "fleet_core/limits.h"

namespace fleet {
namespace {

bool isLowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool isAlnum(char c) {
  return isLowerAlnum(c) || (c >= 'A' && c <= 'Z');
}
bool isHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  return (c | 0x20) - 'a' + 10;  // a hex letter, either case
}
bool isSsidChar(char c) {
  return isAlnum(c) || c == '_' || c == '-';
}
bool isStudentIdChar(char c) {
  return isAlnum(c) || c == '/' || c == '.' || c == '_' || c == '-';
}

template <typename Pred>
bool allOf(const std::string& text, std::size_t from, Pred pred) {
  for (std::size_t i = from; i < text.size(); ++i) {
    if (!pred(text[i])) return false;
  }
  return true;
}

constexpr char kHexDigits[] = "0123456789abcdef";

void appendHexByte(std::string& out, std::uint8_t byte) {
  out.push_back(kHexDigits[byte >> 4]);
  out.push_back(kHexDigits[byte & 0x0f]);
}

}  // namespace

bool isValidDeviceId(const std::string& id) {
  if (id.size() < kMinDeviceIdLen || id.size() > kMaxDeviceIdLen) return false;
  if (!isLowerAlnum(id[0])) return false;
  return allOf(id, 1, [](char c) { return isLowerAlnum(c) || c == '-'; });
}

bool isValidStudentId(const std::string& id) {
  if (id.empty() || id.size() > kMaxStudentIdLen) return false;
  if (!isAlnum(id[0])) return false;
  return allOf(id, 1, isStudentIdChar);
}

bool isValidSsid(const std::string& ssid) {
  return !ssid.empty() && ssid.size() <= kMaxSsidLen && allOf(ssid, 0, isSsidChar);
}

bool isValidCourseCode(const std::string& code) {
  return !code.empty() && code.size() <= kMaxCourseCodeLen && allOf(code, 0, isSsidChar);
}

bool isValidApPassword(const std::string& password) {
  if (password.empty()) return true;  // an open network
  if (password.size() < kMinPasswordLen || password.size() > kMaxPasswordLen) return false;
  for (const unsigned char c : password) {
    if (c < 0x20 || c > 0x7e) return false;  // a WPA2 passphrase is printable ASCII
  }
  return true;
}

bool isValidMac(const std::string& mac) {
  if (mac.size() != kMacTextLen) return false;
  for (std::size_t i = 0; i < mac.size(); ++i) {
    const bool colon_position = (i % 3) == 2;
    if (colon_position ? mac[i] != ':' : !isHex(mac[i])) return false;
  }
  return true;
}

std::string deviceIdFromMac(const std::uint8_t mac[6]) {
  std::string id = "esp32-";
  for (int i = 0; i < 6; ++i) appendHexByte(id, mac[i]);
  return id;
}

std::string toHex(const std::uint8_t* data, std::size_t len) {
  std::string out;
  out.reserve(2 * len);
  for (std::size_t i = 0; i < len; ++i) appendHexByte(out, data[i]);
  return out;
}

std::string formatMac(const std::uint8_t mac[6]) {
  std::string text;
  for (int i = 0; i < 6; ++i) {
    if (i > 0) text.push_back(':');
    appendHexByte(text, mac[i]);
  }
  return text;
}

bool parseMac(const std::string& text, std::uint8_t mac[6]) {
  if (!isValidMac(text)) return false;
  for (int i = 0; i < 6; ++i) {
    mac[i] = static_cast<std::uint8_t>(hexValue(text[3 * i]) * 16 + hexValue(text[3 * i + 1]));
  }
  return true;
}

std::optional<std::size_t> utf8Length(const std::string& text) {
  std::size_t count = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    std::uint32_t code = 0;
    if (lead < 0x80) {
      code = lead;
    } else if ((lead & 0xe0) == 0xc0) {
      extra = 1;
      code = lead & 0x1f;
    } else if ((lead & 0xf0) == 0xe0) {
      extra = 2;
      code = lead & 0x0f;
    } else if ((lead & 0xf8) == 0xf0) {
      extra = 3;
      code = lead & 0x07;
    } else {
      return std::nullopt;
    }
    if (i + extra >= text.size() && extra > 0) return std::nullopt;  // truncated sequence
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return std::nullopt;
      code = (code << 6) | (next & 0x3f);
    }
    static constexpr std::uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    const bool overlong = code < kMinForLength[extra];
    const bool surrogate = code >= 0xd800 && code <= 0xdfff;
    if (overlong || surrogate || code > 0x10ffff) return std::nullopt;
    i += extra + 1;
    ++count;
  }
  return count;
}

std::string trim(const std::string& text) {
  const char* spaces = " \t\r\n\v\f";
  const std::size_t first = text.find_first_not_of(spaces);
  if (first == std::string::npos) return std::string();
  const std::size_t last = text.find_last_not_of(spaces);
  return text.substr(first, last - first + 1);
}

}  // namespace fleet
