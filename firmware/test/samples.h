// Contract example payloads (docs/contract.md) for the tests.
#pragma once

#include <cstdint>
#include <string>

#include "fleet_core/config.h"

namespace samples {

inline fleet::ConfigMsg activeConfig(std::uint32_t version = 7, std::uint32_t session_id = 42,
                                     const std::string& ssid = "CS101_Attendance_2024_2025",
                                     const std::string& password = "") {
  fleet::ConfigMsg config;
  config.version = version;
  config.active_session = true;
  fleet::SessionConfig& s = config.session;
  s.session_id = session_id;
  s.course_code = "CS101";
  s.course_title = "Introduction to Computer Science";
  s.session = "2024/2025";
  s.semester = "1st Semester";
  s.lecturer = "alice";
  s.device_label = "ESP32_CS101_2024_2025_1st_Semester";
  s.device_name = "CS101 - Introduction to Computer Science";
  s.ssid = ssid;
  s.password = password;
  s.location = "CS101 Classroom - 2024/2025 1st Semester";
  return config;
}

inline std::string activeConfigJson(std::uint32_t version = 7, std::uint32_t session_id = 42,
                                    const std::string& ssid = "CS101_Attendance_2024_2025",
                                    const std::string& password = "") {
  return R"({"v":1,"version":)" + std::to_string(version) +
         R"(,"active_session":true,"session_id":)" + std::to_string(session_id) +
         R"(,"course_code":"CS101","course_title":"Introduction to Computer Science",)"
         R"("session":"2024/2025","semester":"1st Semester","lecturer":"alice",)"
         R"("device_id":"ESP32_CS101_2024_2025_1st_Semester",)"
         R"("device_name":"CS101 - Introduction to Computer Science","ssid":")" +
         ssid + R"(","password":")" + password +
         R"(","location":"CS101 Classroom - 2024/2025 1st Semester"})";
}

inline std::string idleConfigJson(std::uint32_t version) {
  return R"({"v":1,"version":)" + std::to_string(version) + R"(,"active_session":false})";
}

inline std::string ackJson(std::uint32_t upto) {
  return R"({"v":1,"upto":)" + std::to_string(upto) + "}";
}

}  // namespace samples
