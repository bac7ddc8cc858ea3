// Fakes of the core's ports for unit tests: no network, no disk, time moved by hand.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fleet_core/device.h"
#include "fleet_core/ports.h"
#include "fleet_core/storage_keys.h"

namespace fakes {

struct Published {
  std::string topic;
  std::string payload;
  bool retained;
};

class FakeTransport : public fleet::Transport {
 public:
  bool publish(const std::string& topic, const std::string& payload, bool retained) override {
    if (!is_connected || fail_publish) return false;
    published.push_back({topic, payload, retained});
    return true;
  }
  bool subscribe(const std::string& topic, int qos) override {
    subscriptions.emplace_back(topic, qos);
    return is_connected;
  }
  bool connected() const override { return is_connected; }

  std::vector<Published> on(const std::string& topic) const {
    std::vector<Published> out;
    for (const Published& p : published) {
      if (p.topic == topic) out.push_back(p);
    }
    return out;
  }
  void clear() { published.clear(); }

  bool is_connected = true;
  bool fail_publish = false;
  std::vector<Published> published;
  std::vector<std::pair<std::string, int>> subscriptions;
};

// Flash: survives a "reboot" (a new Device over the same MemoryStorage).
class MemoryStorage : public fleet::Storage {
 public:
  bool get(const std::string& key, std::string& value) override {
    ++reads;
    const auto it = data.find(key);
    if (it == data.end()) return false;
    value = it->second;
    return true;
  }
  bool put(const std::string& key, const std::string& value) override {
    if (!fleet::keys::isValidKey(key)) bad_keys.push_back(key);
    if (fail_writes) return false;
    ++writes;
    data[key] = value;
    return true;
  }
  bool remove(const std::string& key) override {
    if (fail_writes) return false;
    data.erase(key);
    return true;
  }

  std::map<std::string, std::string> data;
  std::vector<std::string> bad_keys;
  bool fail_writes = false;
  int writes = 0;
  int reads = 0;
};

class FakeClock : public fleet::Clock {
 public:
  std::uint32_t millis() const override { return now; }
  void advance(std::uint32_t ms) { now += ms; }
  std::uint32_t now = 1000;
};

class FakeAccessPoint : public fleet::AccessPoint {
 public:
  bool start(const std::string& ssid, const std::string& password) override {
    ++starts;
    if (fail_start) return false;
    running = true;
    this->ssid = ssid;
    this->password = password;
    return true;
  }
  void stop() override {
    ++stops;
    running = false;
  }
  void release(const std::string& station) override { released.push_back(station); }
  std::vector<std::string> released;
  bool running = false;
  bool fail_start = false;
  std::string ssid;
  std::string password;
  int starts = 0;
  int stops = 0;
};

class FakeSystemInfo : public fleet::SystemInfo {
 public:
  std::optional<int> rssi() const override { return rssi_dbm; }
  std::uint32_t freeHeap() const override { return 143000; }
  std::string ip() const override { return address; }
  std::optional<int> rssi_dbm = -61;
  std::string address = "10.1.2.3";
};

// Returns the given values in turn, then repeats the last.
class ScriptedRandom : public fleet::RandomSource {
 public:
  explicit ScriptedRandom(std::vector<std::uint32_t> values) : values_(std::move(values)) {}
  std::uint32_t next() override {
    const std::uint32_t v = values_[std::min(index_, values_.size() - 1)];
    ++index_;
    return v;
  }

 private:
  std::vector<std::uint32_t> values_;
  std::size_t index_ = 0;
};

class RecordingLogger : public fleet::Logger {
 public:
  void log(fleet::LogLevel level, const std::string& message) override {
    lines.push_back({level, message});
  }
  bool contains(const std::string& needle) const {
    for (const auto& line : lines) {
      if (line.second.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  std::vector<std::pair<fleet::LogLevel, std::string>> lines;
};

// Every port of a fleet::Device, faked: the members of a test fixture over a Device.
struct FakePorts {
  fleet::Ports ports() { return fleet::Ports{transport, flash, ap, clock, system, logger}; }

  FakeTransport transport;
  MemoryStorage flash;
  FakeAccessPoint ap;
  FakeClock clock;
  FakeSystemInfo system;
  RecordingLogger logger;
};

inline const std::uint8_t* bytes(const std::string& text) {
  return reinterpret_cast<const std::uint8_t*>(text.data());
}

}  // namespace fakes
