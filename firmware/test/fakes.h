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

// Two firmware slots in memory: the image "written" to the other one, its hash and descriptor
// as the test says, the boot choice and the trial flag.
class FakeSlots : public fleet::FirmwareSlots {
 public:
  std::string runningVersion() const override { return running; }
  std::string runningSha256() const override { return ""; }
  bool canUpdate() const override { return can_update; }
  bool pendingVerify() const override { return pending; }
  bool markValid() override {
    pending = false;
    ++marked_valid;
    return true;
  }
  bool begin(std::uint32_t size) override {
    image.clear();
    opened = size <= room;
    return opened;
  }
  bool write(const std::uint8_t* data, std::size_t len) override {
    if (!opened) return false;
    image.append(reinterpret_cast<const char*>(data), len);
    return true;
  }
  bool finish(std::string& sha256_hex, std::string& version) override {
    opened = false;
    sha256_hex = image_sha256;
    version = image_version;
    return image_valid;
  }
  void abort() override { opened = false; }
  fleet::SignatureCheck verify(const std::string&, const std::string&) override { return signature; }
  bool activate() override {
    ++activated;
    return true;
  }
  void reboot() override { ++reboots; }
  void rollBack() override { ++rollbacks; }

  std::string running = "1.2.0";
  bool can_update = true;
  bool pending = false;
  std::uint32_t room = 1u << 20;
  std::string image;
  bool opened = false;
  std::string image_sha256;   // what finish() says was written
  std::string image_version;  // what the written image's descriptor says
  bool image_valid = true;
  fleet::SignatureCheck signature = fleet::SignatureCheck::kValid;
  int marked_valid = 0;
  int activated = 0;
  int reboots = 0;
  int rollbacks = 0;
};

// Serves `body` from the offset asked for, `chunk` bytes a poll; breaks once at `break_at`.
class FakeDownloader : public fleet::Downloader {
 public:
  bool start(const std::string& url, std::uint32_t offset) override {
    urls.push_back(url);
    offsets.push_back(offset);
    pos = offset;
    running = true;
    return true;
  }
  fleet::DownloadStep poll(std::uint8_t* buf, std::size_t cap, std::size_t& got) override {
    got = 0;
    if (!running) return fleet::DownloadStep::kFailed;
    std::size_t end = std::min(body.size(), pos + std::min(cap, chunk));
    if (break_at && pos < *break_at && end >= *break_at) {
      end = *break_at;
      break_at.reset();
      std::copy(body.begin() + pos, body.begin() + end, buf);
      got = end - pos;
      pos = end;
      return fleet::DownloadStep::kFailed;
    }
    std::copy(body.begin() + pos, body.begin() + end, buf);
    got = end - pos;
    pos = end;
    return pos == body.size() ? fleet::DownloadStep::kDone : fleet::DownloadStep::kBusy;
  }
  void stop() override { running = false; }

  std::string body;
  std::size_t chunk = 1000;
  std::optional<std::size_t> break_at;
  std::size_t pos = 0;
  bool running = false;
  std::vector<std::string> urls;
  std::vector<std::uint32_t> offsets;
};

inline const std::uint8_t* bytes(const std::string& text) {
  return reinterpret_cast<const std::uint8_t*>(text.data());
}

}  // namespace fakes
