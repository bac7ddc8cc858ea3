// The device: applies configs from the controller to the access point, reports state and
// health, and keeps check-ins until they are acked. Platform-free: the glue gives it a transport,
// storage, access point, clock and system info, tells it about connects and messages, and calls
// loop() often. Nothing here blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "fleet_core/checkin_queue.h"
#include "fleet_core/config.h"
#include "fleet_core/limits.h"
#include "fleet_core/messages.h"
#include "fleet_core/portal_backend.h"
#include "fleet_core/ports.h"
#include "fleet_core/seen_students.h"
#include "fleet_core/stations.h"
#include "fleet_core/topics.h"
#include "fleet_core/update_agent.h"
#include "fleet_core/version.h"

namespace fleet {

struct DeviceOptions {
  std::string root = "fleet";
  std::string device_id;
  std::string fw_version = kFirmwareVersion;
  std::uint32_t heartbeat_interval_ms = kHeartbeatIntervalMs;
  std::uint32_t ack_timeout_ms = kAckTimeoutMs;
  std::size_t queue_capacity = kQueueCapacity;
  // Slot recycling: release phones that are done or idle (stations.h). Off: they keep their slot.
  bool recycle_stations = true;
  // Whether the platform sees the associations its access point refuses, so the heartbeat reports
  // them. Both ports do: the host port's radio model asks joinStation() before it admits a
  // station; the ESP32's radio admits one spare station (kApRadioConnections), reports it, and
  // joinStation() refuses and releases it. Off: a radio that refuses without telling.
  bool sees_refused_stations = false;
};

// Why `options` cannot run a device; nothing when they can.
std::optional<std::string> validateOptions(const DeviceOptions& options);

struct DeviceStats {
  std::uint32_t configs_applied = 0;
  std::uint32_t configs_rejected = 0;
  std::uint32_t configs_ignored = 0;  // version rule
  std::uint32_t inbound_dropped = 0;  // bad topic, bad JSON, schema
  std::uint32_t events_acked = 0;
  std::uint32_t batches_sent = 0;
  std::uint32_t publish_failures = 0;
};

struct Ports {
  Transport& transport;
  Storage& storage;
  AccessPoint& access_point;
  Clock& clock;
  SystemInfo& system;
  Logger& logger;
};

class Device : public PortalBackend {
 public:
  Device(DeviceOptions options, Ports ports);

  // At boot, before any network: raises the boot counter, loads the applied config from storage
  // and starts the access point with it (a device serves its course SSID from flash even when
  // the broker is unreachable), and loads the check-in queue.
  void begin();

  // For the MQTT connect: the will is the retained offline status of this boot.
  std::string willTopic() const { return topics_.status(); }
  std::string willPayload() const;

  // Firmware updates (optional): the device subscribes `update`, hands it the command, tells it
  // each loop how the device stands, and reports its refusals in the heartbeat. Before begin().
  void attachUpdates(UpdateAgent* updates) { updates_ = updates; }

  // The session is up: birth (retained), subscriptions, heartbeat, state (retained), and
  // every unacked check-in again.
  void onConnected();
  void onDisconnected();
  void onMessage(const std::string& topic, const std::uint8_t* payload, std::size_t len);
  // Timers: releasing stations, heartbeat, sending queued check-ins, resending unacked ones.
  void loop();
  // A clean stop: the retained offline status with "reason": "shutdown".
  bool publishShutdown();

  // The access point's stations (`station`: MAC on the ESP32, address on the host). Released
  // stations go to AccessPoint::release() from loop(). A station that joins while all
  // kApMaxConnections slots are taken is refused: counted, and released at once.
  StationJoin joinStation(const std::string& station);
  void leaveStation(const std::string& station);
  StationStats stationStats() const { return stations_.stats(); }

  // PortalBackend
  PortalSnapshot snapshot() const override;
  bool stationRequest(const std::string& station) override;
  CheckinResult checkin(const std::string& student_id, const std::string& station_mac,
                        const std::string& station) override;

  std::uint32_t boot() const { return boot_; }
  const ConfigMsg& appliedConfig() const { return applied_; }
  std::size_t queued() const { return queue_.size(); }
  std::uint32_t uptimeSeconds() const;
  const DeviceStats& stats() const { return stats_; }
  const Topics& topics() const { return topics_; }

 private:
  void loadAppliedConfig();
  void handleConfig(const std::uint8_t* payload, std::size_t len);
  void handleAck(const std::uint8_t* payload, std::size_t len);
  void rejectConfig(std::uint32_t version, const std::string& error);
  bool applyToAccessPoint(const ConfigMsg& config);
  void startSession(const ConfigMsg& config);
  void publishBirth();
  void publishHeartbeat();
  void publishAppliedState();
  void flushQueue();
  void resendIfUnacked(std::uint32_t now);
  void releaseStations(std::uint32_t now);
  DeviceHealth health(std::uint32_t now) const;
  CheckinResult store(const std::string& student_id, const std::string& station_mac);
  void tickUptime();
  bool publish(const std::string& topic, const std::string& payload, bool retained);
  void drop(const char* what, const std::string& why);
  void log(LogLevel level, const std::string& message);

  DeviceOptions options_;
  Topics topics_;
  Ports ports_;
  std::uint32_t boot_ = 0;
  ConfigMsg applied_;  // version 0: nothing applied yet
  std::optional<StateMsg> rejection_;
  CheckinQueue queue_;
  SeenStudents seen_;
  StationTable stations_;
  UpdateAgent* updates_ = nullptr;
  bool link_up_ = false;
  bool config_seen_ = false;  // a config was handled on this connection
  std::uint32_t connected_ms_ = 0;
  bool ap_running_ = false;
  std::string ap_ssid_;
  std::string ap_password_;
  std::uint32_t sent_upto_ = 0;  // highest seq published on this connection
  std::uint32_t last_heartbeat_ms_ = 0;
  std::uint32_t ack_wait_start_ms_ = 0;
  std::uint32_t last_millis_ = 0;
  std::uint64_t uptime_ms_ = 0;
  DeviceStats stats_;
};

}  // namespace fleet
