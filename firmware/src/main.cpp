// ESP32 entry point: glue only. Builds the platform pieces, hands them to fleet::Device (the
// logic, in lib/fleet_core), and runs a loop() without delay(). Waits that remain, all bounded:
// an MQTT connect attempt (at most 10 s, then at least as long before the next) and a write to a
// broker that stopped reading (at most 10 s, once: the link then drops) - see mqtt_link.h; NVS
// writes (the flash write, a sector erase when NVS reclaims a page); a firmware update's 4 KB
// chunk a pass into the other OTA slot (a sector erase and write, tens of ms; the download itself
// waits in its own task, http_download.h); log lines, which wait for the UART (115200 baud: about
// 9 ms per 100 characters).
//
// Boot order matters: the access point is opened from flash (Device::begin) before the campus
// network or the broker is tried, so students can check in even when the broker is down.
#include <Arduino.h>
#include <WiFi.h>

#include <fleet_core.h>

#include <memory>

#include "captive_portal.h"
#include "esp_platform.h"
#include "http_download.h"
#include "mqtt_link.h"
#include "nvs_storage.h"
#include "ota_slots.h"
#include "serial_console.h"
#include "soft_access_point.h"
#include "station_events.h"
#include "wifi_station.h"

namespace {

constexpr unsigned long kSerialBaud = 115200;
// A pasted `set ca_cert <base64>` line (up to ~3 KB) must survive a loop() stalled in a bounded
// MQTT connect; the default 256-byte receive buffer would drop most of it.
constexpr std::size_t kSerialRxBytes = 4096;
constexpr const char* kNvsNamespace = "fleet";

// Everything the firmware owns, built once in setup().
struct App {
  glue::ArduinoClock clock;
  glue::EspRandom random;
  glue::EspSystemInfo system;
  glue::SerialLogger logger;
  glue::NvsStorage storage;
  glue::MqttLink mqtt{clock, random, logger};
  glue::WifiStation station{logger};
  glue::StationEvents station_events;
  std::unique_ptr<fleet::Device> device;
  std::unique_ptr<glue::OtaSlots> slots;
  std::unique_ptr<glue::HttpDownload> download;
  std::unique_ptr<fleet::UpdateAgent> updates;
  std::unique_ptr<glue::CaptivePortal> portal;
  std::unique_ptr<glue::SoftAccessPoint> access_point;
  std::unique_ptr<glue::SerialConsole> console;
};

App* app = nullptr;

void rebootCleanly() {
  if (app->mqtt.connected()) {
    app->device->publishShutdown();
    app->mqtt.disconnect();
  }
  Serial.flush();
  ESP.restart();
}

}  // namespace

void setup() {
  Serial.setRxBufferSize(kSerialRxBytes);  // before begin()
  Serial.begin(kSerialBaud);
  app = new App();
  if (!app->storage.begin(kNvsNamespace))
    app->logger.log(fleet::LogLevel::kError, "NVS unavailable");
  const fleet::NetSettings settings = fleet::loadNetSettings(app->storage);

  // Firmware updates: the other OTA slot, the download in its own task (never in loop()).
  app->slots = std::make_unique<glue::OtaSlots>(settings.update_key, rebootCleanly, app->logger);
  app->download = std::make_unique<glue::HttpDownload>(
      settings.ca_cert.empty() ? std::string() : fleet::pemCertificate(settings.ca_cert),
      app->logger);

  fleet::DeviceOptions options;
  options.root = settings.root;
  options.device_id = glue::deviceIdFromEfuse();
  options.fw_version = app->slots->runningVersion();  // esp_app_desc_t.version
  // The soft AP's spare slot makes a refused association an event (station_events.h).
  options.sees_refused_stations = true;
  app->logger.log(fleet::LogLevel::kInfo, "device " + options.device_id + ", fw " +
                                             options.fw_version + ", image sha256 " +
                                             app->slots->runningSha256() +
                                             (app->slots->pendingVerify() ? " (on trial)" : ""));

  WiFi.persistent(false);
  WiFi.mode(WIFI_AP_STA);
  app->access_point =
      std::make_unique<glue::SoftAccessPoint>(app->logger, [](bool up, const IPAddress& ip) {
        if (app->portal) app->portal->onAccessPoint(up, ip);
      });
  app->device = std::make_unique<fleet::Device>(
      options, fleet::Ports{app->mqtt, app->storage, *app->access_point, app->clock, app->system,
                            app->logger});
  if (!app->station_events.begin())
    app->logger.log(fleet::LogLevel::kError, "station events unavailable");
  app->updates = std::make_unique<fleet::UpdateAgent>(
      app->device->topics(), fleet::UpdatePorts{app->mqtt, app->storage, *app->slots,
                                                *app->download, app->clock, app->logger});
  app->device->attachUpdates(app->updates.get());
  app->portal = std::make_unique<glue::CaptivePortal>(*app->device, app->logger);
  app->portal->begin();
  app->device->begin();  // course SSID from flash, before any network
  // A new image on trial confirms (esp_ota_mark_app_valid_cancel_rollback) only once the
  // device is back at work; a reset before that boots the old image (the bootloader's rollback).
  app->updates->begin();

  app->console = std::make_unique<glue::SerialConsole>(app->storage, rebootCleanly);
  app->console->begin();
  app->station.begin(settings);
  glue::MqttHandlers handlers;
  handlers.connected = [] { app->device->onConnected(); };
  handlers.disconnected = [] { app->device->onDisconnected(); };
  handlers.message = [](const std::string& topic, const std::uint8_t* payload, std::size_t len) {
    app->device->onMessage(topic, payload, len);
  };
  app->mqtt.configure(settings, options.device_id, app->device->willTopic(),
                      app->device->willPayload(), handlers);
}

void loop() {
  app->console->poll();
  app->station.loop();
  app->mqtt.loop(millis(), app->station.connected());
  if (!app->station_events.drain(*app->device))
    app->logger.log(fleet::LogLevel::kWarn, "station events lost");
  app->device->loop();  // stations, heartbeat, check-ins, resends, the update (a chunk a pass)
  app->portal->loop();
}
