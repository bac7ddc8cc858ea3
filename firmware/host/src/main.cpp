// fleet-device: the ESP32 firmware's logic on Linux, for tests and demos. Wires fleet::Device to
// libmosquitto, a state directory (nvs/ for storage, ap.json for the access point) and a
// libmicrohttpd captive portal, then runs the same loop the ESP32 runs. SIGTERM or SIGINT: the
// retained offline status with "reason":"shutdown", then DISCONNECT.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include "curl_downloader.h"
#include "dir_storage.h"
#include "file_access_point.h"
#include "fleet_core/device.h"
#include "fleet_core/portal.h"
#include "fleet_core/provisioning.h"
#include "fleet_core/storage_keys.h"
#include "fleet_core/update_agent.h"
#include "host_image.h"
#include "host_options.h"
#include "host_platform.h"
#include "host_slots.h"
#include "http_portal.h"
#include "mosquitto_transport.h"
#include "supervisor.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;

void onSignal(int) {
  g_stop = 1;
}

void installSignalHandlers() {
  struct sigaction action {};
  action.sa_handler = &onSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

// mqtt://a:1883,b:1883 as the log shows it.
std::string brokerList(const std::vector<fleet::BrokerUrl>& brokers) {
  std::string text = brokers.front().tls ? "mqtts://" : "mqtt://";
  for (std::size_t i = 0; i < brokers.size(); ++i) {
    text += (i > 0 ? "," : "") + brokers[i].host + ":" + std::to_string(brokers[i].port);
  }
  return text;
}

constexpr int kLoopSliceMs = 50;
constexpr int kShutdownDrainMs = 2000;
constexpr std::size_t kUpdateChunksPerLoop = 16;  // 64 KB a pass: a PC writes files quickly

// The fleet's public key: --update-key FILE, else DIR/nvs/update_key (`set update_key`).
std::string updateKey(const host::HostOptions& opts, fleet::Storage& storage,
                      fleet::Logger& logger) {
  if (opts.update_key_file.empty()) {
    std::string stored;
    return storage.get(fleet::keys::kUpdateKey, stored) ? stored : std::string();
  }
  const std::optional<std::string> key = host::readPublicKeyFile(opts.update_key_file);
  if (!key) logger.log(fleet::LogLevel::kError, "cannot read a public key from " + opts.update_key_file);
  return key.value_or("");
}

int run(const host::HostOptions& opts) {
  host::StderrLogger logger(opts.device_id, opts.verbose);
  host::SteadyClock clock;
  host::MtRandom random;
  host::DirStorage storage(opts.state_dir + "/nvs");
  if (!storage.open()) {
    logger.log(fleet::LogLevel::kError, "cannot create state directory " + opts.state_dir + "/nvs");
    return 1;
  }
  host::FileAccessPoint access_point(opts.state_dir + "/ap.json", logger);

  host::MosquittoLibrary mosquitto_library;
  host::MqttOptions mqtt;
  mqtt.client_id = opts.device_id;
  for (const fleet::BrokerUrl& broker : opts.brokers) mqtt.brokers.emplace_back(broker.host, broker.port);
  mqtt.username = opts.username;
  mqtt.password = opts.password;
  if (opts.username.empty()) {
    // As on the ESP32: credentials provisioned into flash (DIR/nvs/mqtt_user, mqtt_pass).
    const fleet::NetSettings stored = fleet::loadNetSettings(storage);
    mqtt.username = stored.mqtt_user;
    mqtt.password = stored.mqtt_pass;
  }
  mqtt.cafile = opts.cafile;
  host::MosquittoTransport transport(mqtt, random, logger);
  host::HostSystemInfo system([&transport] { return transport.localIp(); });

  host::HostSlots slots(opts.state_dir, host::slotFromEnvironment(),
                        updateKey(opts, storage, logger), logger);
  host::CurlDownloader downloader(logger);
  if (slots.canUpdate()) {
    logger.log(fleet::LogLevel::kInfo, "fw " + slots.runningVersion() + ", image sha256 " +
                                           slots.runningSha256() +
                                           (slots.pendingVerify() ? " (on trial)" : ""));
  }

  fleet::DeviceOptions device_options;
  device_options.fw_version = slots.runningVersion();
  device_options.root = opts.root;
  device_options.device_id = opts.device_id;
  device_options.heartbeat_interval_ms = opts.heartbeat_s * 1000;
  device_options.ack_timeout_ms = opts.ack_timeout_s * 1000;
  device_options.recycle_stations = opts.recycle_stations;
  device_options.sees_refused_stations = true;  // the radio model below refuses, and counts
  if (const auto problem = fleet::validateOptions(device_options)) {
    logger.log(fleet::LogLevel::kError, *problem);
    return 2;
  }
  fleet::Device device(device_options,
                       fleet::Ports{transport, storage, access_point, clock, system, logger});
  std::mutex device_mutex;  // the portal answers from libmicrohttpd's thread
  fleet::UpdateOptions update_options;
  update_options.chunks_per_loop = kUpdateChunksPerLoop;
  fleet::UpdateAgent updates(device.topics(),
                             fleet::UpdatePorts{transport, storage, slots, downloader, clock, logger},
                             update_options);
  device.attachUpdates(&updates);

  {
    std::lock_guard<std::mutex> lock(device_mutex);
    device.begin();  // the access point from flash, before any network
    updates.begin();
  }
  host::MqttHandlers handlers;
  handlers.connected = [&] {
    std::lock_guard<std::mutex> lock(device_mutex);
    device.onConnected();
  };
  handlers.disconnected = [&] {
    std::lock_guard<std::mutex> lock(device_mutex);
    device.onDisconnected();
  };
  handlers.message = [&](const std::string& topic, const std::uint8_t* payload, std::size_t len) {
    std::lock_guard<std::mutex> lock(device_mutex);
    device.onMessage(topic, payload, len);
  };
  if (!transport.init(handlers) || !transport.setWill(device.willTopic(), device.willPayload())) {
    logger.log(fleet::LogLevel::kError, "cannot set up the MQTT client");
    return 1;
  }

  // The radio model: each client address is a station, and its first request (or its first after
  // a release) is its association, refused as a full access point refuses it.
  host::HttpPortal portal(
      [&](const fleet::PortalRequest& request) {
        std::lock_guard<std::mutex> lock(device_mutex);
        if (!request.station.empty() &&
            device.joinStation(request.station) == fleet::StationJoin::kRefused) {
          return fleet::accessPointFull();
        }
        return fleet::handlePortal(request, device);
      },
      logger);
  if (!portal.start(opts.portal_bind, opts.portal_port)) {
    logger.log(fleet::LogLevel::kError,
               "cannot listen on " + opts.portal_bind + ":" + std::to_string(opts.portal_port));
    return 1;
  }
  logger.log(fleet::LogLevel::kInfo,
             "portal on http://" + opts.portal_bind + ":" + std::to_string(opts.portal_port) +
                 "/, broker " + brokerList(opts.brokers) + ", root " + opts.root);

  while (g_stop == 0 && !slots.rebootRequested()) {
    transport.service(clock.millis(), kLoopSliceMs);
    std::lock_guard<std::mutex> lock(device_mutex);
    device.loop();
  }
  // esp_restart(): the will says offline, as when an ESP32 reboots.
  if (slots.rebootRequested()) {
    logger.log(fleet::LogLevel::kInfo, "rebooting into the new image");
    portal.stop();
    return host::kRebootExitCode;
  }

  logger.log(fleet::LogLevel::kInfo, "shutting down");
  portal.stop();
  if (transport.connected()) {
    {
      std::lock_guard<std::mutex> lock(device_mutex);
      device.publishShutdown();
    }
    transport.disconnect(kShutdownDrainMs);
  }
  logger.log(fleet::LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--pack") return host::packMain(argc, argv);
  if (argc > 1 && std::string(argv[1]) == "--supervise") return host::superviseMain(argc, argv);
  const host::ParsedOptions parsed = host::parseHostOptions(argc, argv);
  if (!parsed.options) {
    if (parsed.error == "help") {
      std::cout << host::usage();
      return 0;
    }
    std::cerr << "fleet-device: " << parsed.error << "\n" << host::usage();
    return 2;
  }
  installSignalHandlers();
  return run(*parsed.options);
}
