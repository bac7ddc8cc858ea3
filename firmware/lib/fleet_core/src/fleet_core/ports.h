// The device's view of its platform: one small interface per thing the core needs, each with
// one implementation per platform (Arduino glue in firmware/src, Linux in firmware/host, fakes
// in firmware/test).
#pragma once

#include <cstddef>
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

// The firmware slots and the boot choice: the ESP32's two OTA partitions and otadata (the
// bootloader rolls back a new app that has not marked itself valid), the host port's two slot
// directories and its supervisor. The core drives one update at a time through it.
enum class SignatureCheck { kValid, kInvalid, kNoKey };

class FirmwareSlots {
 public:
  virtual ~FirmwareSlots() = default;
  // The running image: its version (esp_app_desc_t.version) and SHA-256 ("" when unknown).
  virtual std::string runningVersion() const = 0;
  virtual std::string runningSha256() const = 0;
  // Whether this slot can take an update at all (the host port without its supervisor cannot).
  virtual bool canUpdate() const = 0;
  // The running image is new and on trial: the bootloader (supervisor) goes back to the old one
  // unless markValid() is called.
  virtual bool pendingVerify() const = 0;
  virtual bool markValid() = 0;
  // Gives up on the running image on trial: the old one boots again (ESP32:
  // esp_ota_mark_app_invalid_rollback_and_reboot; host: exit unconfirmed, the supervisor goes back).
  virtual void rollBack() = 0;
  // Opens the other slot for an image of `size` bytes (erasing it). False: no such slot or room.
  virtual bool begin(std::uint32_t size) = 0;
  // Appends to the image being written, hashing as it goes.
  virtual bool write(const std::uint8_t* data, std::size_t len) = 0;
  // Closes the image: its SHA-256 in lowercase hex and the version its app descriptor names ("",
  // no descriptor). False: the image is not a valid app image for this platform.
  virtual bool finish(std::string& sha256_hex, std::string& version) = 0;
  virtual void abort() = 0;
  // The fleet key's ECDSA P-256 signature (base64 DER) over the digest `sha256_hex`.
  virtual SignatureCheck verify(const std::string& sha256_hex, const std::string& signature) = 0;
  // The finished image boots next, on trial (pendingVerify() there).
  virtual bool activate() = 0;
  virtual void reboot() = 0;
};

enum class DownloadStep { kBusy, kDone, kFailed };

// One HTTP(S) download at a time, never blocking: the glue moves it on in poll().
class Downloader {
 public:
  virtual ~Downloader() = default;
  // Starts fetching `url` from byte `offset` (a Range request when offset > 0). False: it cannot.
  virtual bool start(const std::string& url, std::uint32_t offset) = 0;
  // Copies at most `cap` bytes that have arrived to `buf` (`got` of them; 0 is fine). kDone: the
  // body has ended and every byte was handed out; kFailed: the transfer broke (got bytes still
  // count). Bytes before `offset` are never handed out, whatever the server answered.
  virtual DownloadStep poll(std::uint8_t* buf, std::size_t cap, std::size_t& got) = 0;
  virtual void stop() = 0;
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
