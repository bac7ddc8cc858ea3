// Linux stand-ins for the device's clock, random source, health figures and log.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "fleet_core/ports.h"

namespace host {

class SteadyClock : public fleet::Clock {
 public:
  SteadyClock();
  std::uint32_t millis() const override;

 private:
  std::chrono::steady_clock::time_point start_;
};

class MtRandom : public fleet::RandomSource {
 public:
  MtRandom();
  std::uint32_t next() override;

 private:
  std::mt19937 engine_;
};

// No radio on a PC: no RSSI (its stations are the portal's client addresses, in the core); heap is the host's available memory (capped);
// ip comes from the MQTT socket.
class HostSystemInfo : public fleet::SystemInfo {
 public:
  explicit HostSystemInfo(std::function<std::string()> local_ip);
  std::optional<int> rssi() const override { return std::nullopt; }
  std::uint32_t freeHeap() const override;
  std::string ip() const override { return local_ip_(); }

 private:
  std::function<std::string()> local_ip_;
};

// One line per message on stderr: time, level, device id, text.
class StderrLogger : public fleet::Logger {
 public:
  StderrLogger(std::string device_id, bool debug);
  void log(fleet::LogLevel level, const std::string& message) override;

 private:
  std::string device_id_;
  bool debug_;
  std::mutex mutex_;
};

}  // namespace host
