#include "fleet_core/provisioning.h"

#include <cctype>
#include <cstdlib>

#include "fleet_core/identifiers.h"
#include "fleet_core/limits.h"
#include "fleet_core/storage_keys.h"
#include "fleet_core/topics.h"

namespace fleet {
namespace {

constexpr const char* kHelp =
    "commands:\n"
    "  set wifi_ssid <ssid>\n"
    "  set wifi_pass <password>   (empty: open network)\n"
    "  set broker mqtt://host:port (mqtts://host:port for TLS; a cluster: mqtt://a:1883,b:1883)\n"
    "  set mqtt_user <user>       (empty: none)\n"
    "  set mqtt_pass <password>   (empty: none)\n"
    "  set ca_cert <base64>       (the broker's CA, PEM body on one line; empty: none)\n"
    "  set root <topic root>      (default fleet)\n"
    "  set update_key <base64>    (the fleet's firmware key, public PEM body on one line)\n"
    "  show\n"
    "  reboot\n";

std::string stored(Storage& storage, const char* key, const std::string& fallback = "") {
  std::string value;
  return storage.get(key, value) ? value : fallback;
}

bool isBase64(const std::string& value, std::size_t min, std::size_t max) {
  if (value.size() < min || value.size() > max || value.size() % 4 != 0) return false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    const bool padding = c == '=' && i + 2 >= value.size();
    if (!padding && !std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/')
      return false;
  }
  return true;
}

// Why `value` is not acceptable for `key`; nothing when it is.
std::optional<std::string> checkSetting(const std::string& key, const std::string& value) {
  if (key == keys::kWifiSsid) {
    if (value.empty() || value.size() > 32) return std::string("wifi_ssid must be 1..32 bytes");
  } else if (key == keys::kWifiPass) {
    if (!value.empty() && (value.size() < 8 || value.size() > 64)) {
      return std::string("wifi_pass must be empty or 8..64 characters");
    }
  } else if (key == keys::kBroker) {
    if (!parseBrokerList(value))
      return "broker must look like mqtt://host:1883 or mqtts://host:8883, or list up to " +
             std::to_string(kMaxBrokers) + " nodes: mqtt://a:1883,b:1883";
  } else if (key == keys::kMqttUser) {
    if (value.size() > kMaxMqttUserLen)
      return "mqtt_user must be at most " + std::to_string(kMaxMqttUserLen) + " characters";
  } else if (key == keys::kMqttPass) {
    if (value.size() > kMaxMqttPassLen)
      return "mqtt_pass must be at most " + std::to_string(kMaxMqttPassLen) + " characters";
  } else if (key == keys::kCaCert) {
    if (!value.empty() && !isBase64(value, kMinCaCertBase64, kMaxCaCertBase64)) {
      return "ca_cert must be the base64 between the PEM's BEGIN and END lines, on one line (" +
             std::to_string(kMinCaCertBase64) + ".." + std::to_string(kMaxCaCertBase64) +
             " characters)";
    }
  } else if (key == keys::kUpdateKey) {
    if (!value.empty() && !isBase64(value, kMinUpdateKeyBase64, kMaxUpdateKeyBase64)) {
      return "update_key must be the base64 between the public key PEM's BEGIN and END lines, "
             "on one line (" +
             std::to_string(kMinUpdateKeyBase64) + ".." + std::to_string(kMaxUpdateKeyBase64) +
             " characters)";
    }
  } else if (key == keys::kRoot) {
    if (!isValidRoot(value))
      return std::string("root must be 1..64 bytes without + # or empty levels");
  } else {
    return "unknown setting " + key + " (try help)";
  }
  return std::nullopt;
}

std::string mask(const std::string& secret) {
  return secret.empty() ? "(none)" : "********";
}
std::string orNone(const std::string& value) {
  return value.empty() ? "(none)" : value;
}

}  // namespace

NetSettings loadNetSettings(Storage& storage) {
  NetSettings settings;
  settings.wifi_ssid = stored(storage, keys::kWifiSsid);
  settings.wifi_pass = stored(storage, keys::kWifiPass);
  settings.broker = stored(storage, keys::kBroker);
  settings.mqtt_user = stored(storage, keys::kMqttUser);
  settings.mqtt_pass = stored(storage, keys::kMqttPass);
  settings.ca_cert = stored(storage, keys::kCaCert);
  settings.update_key = stored(storage, keys::kUpdateKey);
  const std::string root = stored(storage, keys::kRoot, "fleet");
  settings.root = isValidRoot(root) ? root : "fleet";
  return settings;
}

std::optional<BrokerUrl> parseBrokerUrl(const std::string& url) {
  const std::string plain = "mqtt://";
  const std::string secure = "mqtts://";
  BrokerUrl broker;
  std::string rest;
  if (url.compare(0, plain.size(), plain) == 0) {
    rest = url.substr(plain.size());
  } else if (url.compare(0, secure.size(), secure) == 0) {
    rest = url.substr(secure.size());
    broker.tls = true;
    broker.port = 8883;
  } else {
    return std::nullopt;
  }
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  std::string port_text;
  if (!rest.empty() && rest.front() == '[') {
    const std::size_t close = rest.find(']');
    if (close == std::string::npos) return std::nullopt;
    broker.host = rest.substr(1, close - 1);
    const std::string after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port_text = after.substr(1);
    }
  } else {
    const std::size_t colon = rest.find(':');
    broker.host = rest.substr(0, colon);
    if (colon != std::string::npos) port_text = rest.substr(colon + 1);
    if (colon != std::string::npos && port_text.empty()) return std::nullopt;
  }
  if (broker.host.empty()) return std::nullopt;
  for (char c : broker.host) {
    if (c == '/' || c == '@' || c == ' ' || c == '?' || c == '#') return std::nullopt;
  }
  if (!port_text.empty()) {
    if (port_text.size() > 5) return std::nullopt;
    for (char c : port_text) {
      if (c < '0' || c > '9') return std::nullopt;
    }
    const long port = std::strtol(port_text.c_str(), nullptr, 10);
    if (port < 1 || port > 65535) return std::nullopt;
    broker.port = static_cast<std::uint16_t>(port);
  }
  return broker;
}

std::optional<std::vector<BrokerUrl>> parseBrokerList(const std::string& text) {
  const std::size_t mark = text.find("://");
  if (mark == std::string::npos) return std::nullopt;
  const std::string scheme = text.substr(0, mark + 3);
  const std::string rest = text.substr(mark + 3);
  std::vector<BrokerUrl> brokers;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = rest.find(',', start);
    const std::string entry =
        rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (entry.empty() || entry.find("://") != std::string::npos) return std::nullopt;
    const std::optional<BrokerUrl> broker = parseBrokerUrl(scheme + entry);
    if (!broker || brokers.size() == kMaxBrokers) return std::nullopt;
    for (const BrokerUrl& seen : brokers) {
      if (seen.host == broker->host && seen.port == broker->port) return std::nullopt;
    }
    brokers.push_back(*broker);
    if (comma == std::string::npos) return brokers;
    start = comma + 1;
  }
}

ConsoleCommand parseConsoleLine(const std::string& raw) {
  ConsoleCommand command;
  std::string line = raw;
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  const std::string trimmed = trim(line);
  if (trimmed.empty()) return command;
  const std::size_t space = trimmed.find(' ');
  const std::string verb = trimmed.substr(0, space);
  if (verb == "show" || verb == "reboot" || verb == "help") {
    if (space != std::string::npos) {
      command.kind = ConsoleCommandKind::kError;
      command.error = verb + " takes no arguments";
      return command;
    }
    command.kind = verb == "show"     ? ConsoleCommandKind::kShow
                   : verb == "reboot" ? ConsoleCommandKind::kReboot
                                      : ConsoleCommandKind::kHelp;
    return command;
  }
  if (verb != "set") {
    command.kind = ConsoleCommandKind::kError;
    command.error = "unknown command " + verb + " (try help)";
    return command;
  }
  if (space == std::string::npos) {
    command.kind = ConsoleCommandKind::kError;
    command.error = "usage: set <key> <value>";
    return command;
  }
  // The value is the rest of the line after one space, so SSIDs and passwords may hold spaces.
  const std::string args = trimmed.substr(space + 1);
  const std::size_t key_end = args.find(' ');
  command.kind = ConsoleCommandKind::kSet;
  command.key = args.substr(0, key_end);
  command.value = key_end == std::string::npos ? std::string() : args.substr(key_end + 1);
  return command;
}

ConsoleOutput runConsoleCommand(const ConsoleCommand& command, Storage& storage) {
  ConsoleOutput out;
  switch (command.kind) {
    case ConsoleCommandKind::kEmpty: break;
    case ConsoleCommandKind::kHelp: out.text = kHelp; break;
    case ConsoleCommandKind::kShow: out.text = describeSettings(loadNetSettings(storage)); break;
    case ConsoleCommandKind::kReboot:
      out.text = "rebooting\n";
      out.reboot = true;
      break;
    case ConsoleCommandKind::kError: out.text = "error: " + command.error + "\n"; break;
    case ConsoleCommandKind::kSet: {
      if (std::optional<std::string> problem = checkSetting(command.key, command.value)) {
        out.text = "error: " + *problem + "\n";
        break;
      }
      // An empty value is stored as no value (NVS cannot hold empty blobs).
      const bool ok = command.value.empty() ? storage.remove(command.key)
                                            : storage.put(command.key, command.value);
      out.text = ok ? "ok: " + command.key + " saved (reboot to apply)\n"
                    : "error: could not write " + command.key + " to flash\n";
      break;
    }
  }
  return out;
}

std::string describeSettings(const NetSettings& s) {
  const std::string ca =
      s.ca_cert.empty() ? "(none)" : std::to_string(s.ca_cert.size()) + " base64 characters";
  return "wifi_ssid = " + orNone(s.wifi_ssid) + "\n" + "wifi_pass = " + mask(s.wifi_pass) + "\n" +
         "broker    = " + orNone(s.broker) + "\n" + "mqtt_user = " + orNone(s.mqtt_user) + "\n" +
         "mqtt_pass = " + mask(s.mqtt_pass) + "\n" + "ca_cert   = " + ca + "\n" +
         "root      = " + s.root + "\n" + "update_key = " +
         (s.update_key.empty() ? "(none: firmware updates refused)"
                               : std::to_string(s.update_key.size()) + " base64 characters") +
         "\n";
}

std::string pemCertificate(const std::string& base64_der) {
  constexpr std::size_t kPemLine = 64;
  std::string pem = "-----BEGIN CERTIFICATE-----\n";
  for (std::size_t at = 0; at < base64_der.size(); at += kPemLine) {
    pem += base64_der.substr(at, kPemLine) + "\n";
  }
  return pem + "-----END CERTIFICATE-----\n";
}

}  // namespace fleet
