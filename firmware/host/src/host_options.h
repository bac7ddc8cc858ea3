// Command line of fleet-device:
//   fleet-device --id esp32-000000000001 --broker mqtt://127.0.0.1:1883 --state-dir DIR
//                --portal-port 8080 [--portal-bind 127.0.0.1] [--root fleet] [--heartbeat-s 30]
//                [--ack-timeout-s 30] [--username U] [--password P] [--cafile CA.pem] [--no-recycle]
//                [--update-key PUBLIC.pem] [--verbose]
// --broker takes a cluster's nodes as one list too (mqtt://a:1883,b:1883,c:1883): the device tries
// them in that order, moving to the next after every failed attempt or lost connection.
// --broker mqtts://HOST:PORT is TLS and needs --cafile, the one CA trusted (pinned), as the
// ESP32's `set ca_cert`. Without --username the credentials come from DIR/nvs (mqtt_user and
// mqtt_pass, as the ESP32 keeps them in NVS), so no password needs to be on the command line.
// --update-key: the fleet's public key for firmware images (PEM, or the base64 of its DER);
// without it, DIR/nvs/update_key as `set update_key` stores it on the ESP32.
// Other modes: fleet-device --pack (host_image.h), fleet-device --supervise (supervisor.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fleet_core/provisioning.h"

namespace host {

struct HostOptions {
  std::string device_id;
  std::vector<fleet::BrokerUrl> brokers;  // 1..fleet::kMaxBrokers, one scheme
  std::string state_dir;
  std::uint16_t portal_port = 0;
  std::string portal_bind = "127.0.0.1";
  std::string root = "fleet";
  std::uint32_t heartbeat_s = 30;
  std::uint32_t ack_timeout_s = 30;
  std::string username;
  std::string password;
  std::string update_key_file;  // "": DIR/nvs/update_key
  std::string cafile;  // PEM; required by (and only allowed with) an mqtts:// broker
  bool recycle_stations = true;  // --no-recycle: phones that are done keep their slot
  bool verbose = false;
};

struct ParsedOptions {
  std::optional<HostOptions> options;
  std::string error;  // when options is empty; "help" for --help
};

ParsedOptions parseHostOptions(int argc, char** argv);
const char* usage();

}  // namespace host
