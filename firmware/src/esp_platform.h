// The ESP32's clock, random source, health figures, log and identity for the core.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <fleet_core/ports.h>

namespace glue {

class ArduinoClock : public fleet::Clock {
 public:
  std::uint32_t millis() const override;
};

class EspRandom : public fleet::RandomSource {
 public:
  std::uint32_t next() override;  // hardware RNG (esp_random)
};

class EspSystemInfo : public fleet::SystemInfo {
 public:
  std::optional<int> rssi() const override;  // of the campus network, when joined
  std::uint32_t freeHeap() const override;
  std::string ip() const override;  // station address, "" until joined
};

// "[12345 ms] INFO message" lines on Serial.
class SerialLogger : public fleet::Logger {
 public:
  void log(fleet::LogLevel level, const std::string& message) override;
};

// esp32- + the factory MAC as 12 lowercase hex digits, e.g. esp32-a1b2c3d4e5f6.
std::string deviceIdFromEfuse();

}  // namespace glue
