// Text rules of the contract: device ids, student ids, SSIDs, passwords, MAC addresses, and
// UTF-8 character counting (JSON Schema lengths count characters, not bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace fleet {

// ^[a-z0-9][a-z0-9-]{2,31}$
bool isValidDeviceId(const std::string& id);
// ^[A-Za-z0-9][A-Za-z0-9/._-]{0,31}$
bool isValidStudentId(const std::string& id);
// ^[A-Za-z0-9_-]{1,32}$
bool isValidSsid(const std::string& ssid);
// ^[A-Za-z0-9_-]{1,16}$
bool isValidCourseCode(const std::string& code);
// "" (open network) or 8..63 characters, at most 63 bytes (the WPA2 passphrase limit).
bool isValidApPassword(const std::string& password);
// aa:bb:cc:dd:ee:ff, either case
bool isValidMac(const std::string& mac);

// "esp32-" + the six MAC bytes as 12 lowercase hex digits, in wire order (mac[0] first).
std::string deviceIdFromMac(const std::uint8_t mac[6]);
// `len` bytes as 2 * `len` lowercase hex digits (a SHA-256 as the contract writes it).
std::string toHex(const std::uint8_t* data, std::size_t len);
// The six bytes as aa:bb:cc:dd:ee:ff.
std::string formatMac(const std::uint8_t mac[6]);
// aa:bb:cc:dd:ee:ff (either case) into six bytes; false when `text` is no MAC.
bool parseMac(const std::string& text, std::uint8_t mac[6]);

// Number of Unicode code points, or nothing when `text` is not valid UTF-8.
std::optional<std::size_t> utf8Length(const std::string& text);

// `text` without leading and trailing ASCII whitespace.
std::string trim(const std::string& text);

}  // namespace fleet
