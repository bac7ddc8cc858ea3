// Network settings kept in storage and the line-based serial console that edits them, so a
// device is provisioned without recompiling:
//   set wifi_ssid <ssid>      campus network the device joins (station)
//   set wifi_pass <password>  "" for an open network
//   set broker mqtt://host:port   or mqtts://host:port (TLS; needs ca_cert); a cluster's nodes
//                             as one list: mqtt://a:1883,b:1883,c:1883
//   set mqtt_user <user>      empty to clear
//   set mqtt_pass <password>  empty to clear
//   set ca_cert <base64>      the broker's CA certificate (the PEM body on one line), pinned
//   set root <topic root>     default "fleet"
//   set update_key <base64>   the fleet's public key for firmware images (the PEM body on one
//                             line: base64 of the DER SubjectPublicKeyInfo, ECDSA P-256)
//   show | reboot | help
#pragma once

#include <cstdint>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "fleet_core/ports.h"

namespace fleet {

struct NetSettings {
  std::string wifi_ssid;
  std::string wifi_pass;
  std::string broker;  // mqtt://host:port or mqtts://host:port, or a list: mqtt://a:1883,b:1883
  std::string mqtt_user;
  std::string mqtt_pass;
  std::string ca_cert;  // base64 of the CA certificate's DER (a PEM body without its line breaks)
  std::string root = "fleet";
  std::string update_key;  // base64 of the fleet public key's DER; "": no updates
};

NetSettings loadNetSettings(Storage& storage);

struct BrokerUrl {
  std::string host;
  std::uint16_t port = 1883;
  bool tls = false;  // mqtts://: TLS, port 8883 by default
};

// mqtt://host[:port] or mqtts://host[:port] (host a name, an IPv4 address or [IPv6]); nothing
// otherwise.
std::optional<BrokerUrl> parseBrokerUrl(const std::string& url);

// The most brokers one list may name (a cluster's nodes).
constexpr std::size_t kMaxBrokers = 4;

// One broker URL, or a list in one URL: mqtt://a[:port],b[:port],... (every entry with the list's
// scheme; 1..kMaxBrokers entries, none empty, none twice), in the order given; nothing otherwise.
std::optional<std::vector<BrokerUrl>> parseBrokerList(const std::string& text);

// The PEM text of a certificate given as the base64 of its DER (as `set ca_cert` stores it):
// the BEGIN/END lines around the base64 in lines of 64 characters.
std::string pemCertificate(const std::string& base64_der);

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
