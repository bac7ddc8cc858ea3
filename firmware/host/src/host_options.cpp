#include "host_options.h"

#include <cstdlib>
#include <cstring>

#include "fleet_core/identifiers.h"
#include "fleet_core/topics.h"

namespace host {
namespace {

std::optional<std::uint32_t> parseNumber(const std::string& text, std::uint32_t min,
                                         std::uint32_t max) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  const unsigned long long value = std::strtoull(text.c_str(), nullptr, 10);
  if (value < min || value > max) return std::nullopt;
  return static_cast<std::uint32_t>(value);
}

ParsedOptions failure(std::string error) {
  ParsedOptions parsed;
  parsed.error = std::move(error);
  return parsed;
}

}  // namespace

const char* usage() {
  return "usage: fleet-device --id ID --broker mqtt://HOST:PORT[,HOST:PORT...] --state-dir DIR "
         "--portal-port "
         "PORT\n"
         "                    [--portal-bind ADDR] [--root ROOT] [--heartbeat-s N] "
         "[--ack-timeout-s N]\n"
         "                    [--username USER] [--password PASS] [--cafile CA.pem] [--no-recycle]\n"
         "                    [--update-key PUBLIC.pem] [--verbose]\n"
         "       fleet-device --pack EXECUTABLE --version SEMVER --out IMAGE.bin\n"
         "       fleet-device --supervise [--confirm-s N] -- DEVICE-OPTIONS...\n"
         "       --broker mqtts://HOST:PORT (TLS) needs --cafile; without --username the "
         "credentials\n"
         "       are read from STATE-DIR/nvs/mqtt_user and mqtt_pass; --no-recycle keeps a phone "
         "that\n"
         "       is done in its Wi-Fi slot (each portal client address is a station, 10 at once)\n";
}

ParsedOptions parseHostOptions(int argc, char** argv) {
  HostOptions options;
  bool have_broker = false;
  bool have_port = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") return failure("help");
    if (flag == "--verbose") {
      options.verbose = true;
      continue;
    }
    if (flag == "--no-recycle") {
      options.recycle_stations = false;
      continue;
    }
    if (i + 1 >= argc) return failure(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--id") {
      if (!fleet::isValidDeviceId(value))
        return failure("--id must match ^[a-z0-9][a-z0-9-]{2,31}$");
      options.device_id = value;
    } else if (flag == "--broker") {
      const std::optional<std::vector<fleet::BrokerUrl>> brokers = fleet::parseBrokerList(value);
      if (!brokers)
        return failure(
            "--broker must look like mqtt://127.0.0.1:1883 or mqtts://host:8883, or list up to " +
            std::to_string(fleet::kMaxBrokers) + " nodes: mqtt://a:1883,b:1883");
      options.brokers = *brokers;
      have_broker = true;
    } else if (flag == "--state-dir") {
      options.state_dir = value;
    } else if (flag == "--portal-port") {
      const std::optional<std::uint32_t> port = parseNumber(value, 1, 65535);
      if (!port) return failure("--portal-port must be 1..65535");
      options.portal_port = static_cast<std::uint16_t>(*port);
      have_port = true;
    } else if (flag == "--portal-bind") {
      options.portal_bind = value;
    } else if (flag == "--root") {
      if (!fleet::isValidRoot(value))
        return failure("--root must be 1..64 bytes without + # or empty levels");
      options.root = value;
    } else if (flag == "--heartbeat-s") {
      const std::optional<std::uint32_t> seconds = parseNumber(value, 1, 86400);
      if (!seconds) return failure("--heartbeat-s must be 1..86400");
      options.heartbeat_s = *seconds;
    } else if (flag == "--ack-timeout-s") {
      const std::optional<std::uint32_t> seconds = parseNumber(value, 1, 86400);
      if (!seconds) return failure("--ack-timeout-s must be 1..86400");
      options.ack_timeout_s = *seconds;
    } else if (flag == "--username") {
      options.username = value;
    } else if (flag == "--password") {
      options.password = value;
    } else if (flag == "--update-key") {
      if (value.empty()) return failure("--update-key needs a file");
      options.update_key_file = value;
    } else if (flag == "--cafile") {
      if (value.empty()) return failure("--cafile needs a file");
      options.cafile = value;
    } else {
      return failure("unknown option " + flag);
    }
  }
  if (options.device_id.empty()) return failure("--id is required");
  if (!have_broker) return failure("--broker is required");
  if (options.state_dir.empty()) return failure("--state-dir is required");
  if (!have_port) return failure("--portal-port is required");
  const bool tls = options.brokers.front().tls;  // the list's one scheme
  if (tls && options.cafile.empty())
    return failure("an mqtts:// broker needs --cafile (the CA to trust)");
  if (!tls && !options.cafile.empty())
    return failure("--cafile needs an mqtts:// broker");
  ParsedOptions parsed;
  parsed.options = options;
  return parsed;
}

}  // namespace host
