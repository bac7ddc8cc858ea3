#include "esp_platform.h"

#include <Arduino.h>
#include <WiFi.h>
#include <esp_system.h>

#include <fleet_core/identifiers.h>

namespace glue {

std::uint32_t ArduinoClock::millis() const {
  return ::millis();
}

std::uint32_t EspRandom::next() {
  return esp_random();
}

std::optional<int> EspSystemInfo::rssi() const {
  if (WiFi.status() != WL_CONNECTED) return std::nullopt;
  return static_cast<int>(WiFi.RSSI());
}

std::uint32_t EspSystemInfo::freeHeap() const {
  return ESP.getFreeHeap();
}

std::string EspSystemInfo::ip() const {
  if (WiFi.status() != WL_CONNECTED) return std::string();
  return WiFi.localIP().toString().c_str();
}

void SerialLogger::log(fleet::LogLevel level, const std::string& message) {
  static const char* const kNames[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  Serial.printf("[%lu ms] %s %s\n", static_cast<unsigned long>(::millis()),
                kNames[static_cast<int>(level)], message.c_str());
}

std::string deviceIdFromEfuse() {
  // getEfuseMac() packs the six MAC bytes into an integer with the first byte lowest, so
  // printing the integer in hex shows them reversed: take the bytes out one by one instead.
  const std::uint64_t efuse = ESP.getEfuseMac();
  std::uint8_t mac[6];
  for (int i = 0; i < 6; ++i) mac[i] = static_cast<std::uint8_t>((efuse >> (8 * i)) & 0xff);
  return fleet::deviceIdFromMac(mac);
}

}  // namespace glue
