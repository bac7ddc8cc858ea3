// Every key the device keeps in storage (NVS namespace "fleet"): at most 15 characters.
#pragma once

#include <cstddef>
#include <string>

namespace fleet {
namespace keys {

constexpr const char* kBoot = "boot";          // u32 boot counter
constexpr const char* kConfig = "cfg";         // last applied config, as its JSON
constexpr const char* kNextSeq = "seq";        // u32 next check-in seq
constexpr const char* kQueueSlotPrefix = "q";  // q000..q255: one queued check-in each
// Firmware updates (update_agent.h).
constexpr const char* kUpdateBoot = "upd_boot";        // "<version> <command key>" rebooting
constexpr const char* kUpdateSkip = "upd_skip";        // the command key not to try again
constexpr const char* kImagesRefused = "upd_refused";  // u32 images refused (hash, signature)
// Provisioning (serial console): network settings.
constexpr const char* kWifiSsid = "wifi_ssid";
constexpr const char* kWifiPass = "wifi_pass";
constexpr const char* kBroker = "broker";
constexpr const char* kMqttUser = "mqtt_user";
constexpr const char* kMqttPass = "mqtt_pass";
constexpr const char* kCaCert = "ca_cert";
constexpr const char* kRoot = "root";
constexpr const char* kUpdateKey = "update_key";  // the fleet's public key, base64 DER SPKI

// "q007" for slot 7.
std::string queueSlot(std::size_t slot);

// [a-z0-9_]{1,15}: valid as an NVS key and as a file name.
bool isValidKey(const std::string& key);

}  // namespace keys
}  // namespace fleet
