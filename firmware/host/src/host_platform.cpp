#include "host_platform.h"

#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

namespace host {

SteadyClock::SteadyClock() : start_(std::chrono::steady_clock::now()) {}

std::uint32_t SteadyClock::millis() const {
  const auto elapsed = std::chrono::steady_clock::now() - start_;
  return static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count());
}

MtRandom::MtRandom() : engine_(std::random_device{}()) {}

std::uint32_t MtRandom::next() {
  return static_cast<std::uint32_t>(engine_());
}

HostSystemInfo::HostSystemInfo(std::function<std::string()> local_ip)
    : local_ip_(std::move(local_ip)) {}

std::uint32_t HostSystemInfo::freeHeap() const {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") {
      const std::uint64_t bytes = kib * 1024;
      return bytes > 0xffffffffull ? 0xffffffffu : static_cast<std::uint32_t>(bytes);
    }
  }
  return 0;
}

StderrLogger::StderrLogger(std::string device_id, bool debug)
    : device_id_(std::move(device_id)), debug_(debug) {}

void StderrLogger::log(fleet::LogLevel level, const std::string& message) {
  if (level == fleet::LogLevel::kDebug && !debug_) return;
  static const char* const kNames[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  const std::time_t now = std::time(nullptr);
  std::tm tm_utc{};
  gmtime_r(&now, &tm_utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm_utc);
  std::ostringstream line;
  line << stamp << ' ' << kNames[static_cast<int>(level)] << ' ' << device_id_ << ": " << message
       << '\n';
  std::lock_guard<std::mutex> lock(mutex_);
  std::cerr << line.str() << std::flush;
}

}  // namespace host
