// The device's view of its platform: one small interface per thing the core needs, each with
// one implementation per platform (Arduino glue in firmware/src, Linux in firmware/host, fakes
// in firmware/test).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace fleet {

// An MQTT session. publish() is QoS 0 (all PubSubClient can send); subscribe() asks for `qos`.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual bool publish(const std::string& topic, const std::string& payload, bool retained) = 0;
  virtual bool subscribe(const std::string& topic, int qos) = 0;
  virtual bool connected() const = 0;
};

// Small blobs by key (NVS on the ESP32: keys are at most 15 characters of [a-z0-9_]).
class Storage {
 public:
  virtual ~Storage() = default;
  // False when `key` holds nothing.
  virtual bool get(const std::string& key, std::string& value) = 0;
  // Durable once it returns true.
  virtual bool put(const std::string& key, const std::string& value) = 0;
  // True when `key` holds nothing afterwards (also when it held nothing before).
  virtual bool remove(const std::string& key) = 0;
};

// The Wi-Fi access point students join.
class AccessPoint {
 public:
  virtual ~AccessPoint() = default;
  // `password` empty: open network.
  virtual bool start(const std::string& ssid, const std::string& password) = 0;
  virtual void stop() = 0;
  // Disconnect `station` (its MAC on the ESP32, its address on the host) so that its slot frees,
  // or, refused, so that it leaves the ESP32's spare slot (kApRadioConnections). Nothing when the
  // station has gone already.
  virtual void release(const std::string& station) = 0;
};

// Milliseconds since boot; wraps after 49.7 days (compare with unsigned subtraction).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::uint32_t millis() const = 0;
};

// Uniform 32-bit random numbers (jitter).
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual std::uint32_t next() = 0;
};

// Health figures for the heartbeat and the birth message.
class SystemInfo {
 public:
  virtual ~SystemInfo() = default;
  virtual std::optional<int> rssi() const = 0;  // of the station link, dBm
  virtual std::uint32_t freeHeap() const = 0;
  virtual std::string ip() const = 0;              // "" when unknown
};

enum class LogLevel { kDebug, kInfo, kWarn, kError };

class Logger {
 public:
  virtual ~Logger() = default;
  virtual void log(LogLevel level, const std::string& message) = 0;
};

// Discards everything (a default for tests and tools).
class NullLogger : public Logger {
 public:
  void log(LogLevel, const std::string&) override {}
};

}  // namespace fleet
