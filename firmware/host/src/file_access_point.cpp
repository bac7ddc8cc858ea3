#include "file_access_point.h"

#include "dir_storage.h"
#include "fleet_core/json_codec.h"
#include "fleet_core/limits.h"

namespace host {

FileAccessPoint::FileAccessPoint(std::string path, fleet::Logger& logger)
    : path_(std::move(path)), logger_(logger) {}

bool FileAccessPoint::start(const std::string& ssid, const std::string& password) {
  fleet::json::Writer record;
  record.boolean("running", true)
      .string("ssid", ssid)
      .string("password", password)
      .boolean("open", password.empty())
      .counter("max_connections", fleet::kApMaxConnections);
  if (!writeFileAtomically(path_, record.print() + "\n")) {
    logger_.log(fleet::LogLevel::kError, "cannot write " + path_);
    return false;
  }
  logger_.log(fleet::LogLevel::kInfo,
              "access point up: ssid " + ssid + (password.empty() ? " (open)" : " (WPA2)"));
  return true;
}

void FileAccessPoint::stop() {
  fleet::json::Writer record;
  record.boolean("running", false);
  if (!writeFileAtomically(path_, record.print() + "\n")) {
    logger_.log(fleet::LogLevel::kError, "cannot write " + path_);
    return;
  }
  logger_.log(fleet::LogLevel::kInfo, "access point down");
}

void FileAccessPoint::release(const std::string& station) {
  logger_.log(fleet::LogLevel::kDebug, "station " + station + " disconnected");
}

}  // namespace host
