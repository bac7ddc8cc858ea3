// Network settings kept in storage and the line-based serial console that edits them, so a
// device is provisioned without recompiling:
//   set wifi_ssid <ssid>      campus network the device joins (station)
//   set wifi_pass <password>  "" for an open network
//   set broker mqtt://host:port
//   set mqtt_user <user>      empty to clear
//   set mqtt_pass <password>  empty to clear
//   set root <topic root>     default "fleet"
//   show | reboot | help
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "fleet_core/ports.h"

namespace fleet {

struct NetSettings {
  std::string wifi_ssid;
  std::string wifi_pass;
  std::string broker;  // mqtt://host:port
  std::string mqtt_user;
  std::string mqtt_pass;
  std::string root = "fleet";
};

NetSettings loadNetSettings(Storage& storage);

struct BrokerUrl {
  std::string host;
  std::uint16_t port = 1883;
};

// mqtt://host[:port] (host a name, an IPv4 address or [IPv6]); nothing otherwise.
std::optional<BrokerUrl> parseBrokerUrl(const std::string& url);

enum class ConsoleCommandKind { kEmpty, kSet, kShow, kReboot, kHelp, kError };

struct ConsoleCommand {
  ConsoleCommandKind kind = ConsoleCommandKind::kEmpty;
  std::string key;    // for set
  std::string value;  // for set (the rest of the line, may be empty or hold spaces)
  std::string error;  // for kError
};

ConsoleCommand parseConsoleLine(const std::string& line);

struct ConsoleOutput {
  std::string text;     // to print, lines ending in \n
  bool reboot = false;  // the caller restarts the device
};

// Applies `command` to storage (set validates the value first).
ConsoleOutput runConsoleCommand(const ConsoleCommand& command, Storage& storage);

// The settings with passwords masked.
std::string describeSettings(const NetSettings& settings);

}  // namespace fleet
