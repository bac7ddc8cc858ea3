// Named limits of the MQTT contract v1 (docs/contract.md) and of the device, with compile-time
// proofs that every message the device sends fits in one payload.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fleet {

// --- contract -----------------------------------------------------------------------------------
constexpr std::size_t kMaxPayloadBytes = 1024;      // every device payload, both directions
constexpr std::uint32_t kContractVersion = 1;       // "v"
constexpr std::uint32_t kCounterMax = 4294967295u;  // counters are 0..2^32-1
constexpr std::size_t kCounterDigits = 10;          // "4294967295"
constexpr std::size_t kMinDeviceIdLen = 3;
constexpr std::size_t kMaxDeviceIdLen = 32;
constexpr std::size_t kMaxSsidLen = 32;
constexpr std::size_t kMinPasswordLen = 8;
constexpr std::size_t kMaxPasswordLen = 63;
constexpr std::size_t kMaxCourseCodeLen = 16;
constexpr std::size_t kMaxCourseTitleLen = 100;
constexpr std::size_t kMaxSessionLen = 16;
constexpr std::size_t kMaxSemesterLen = 32;
constexpr std::size_t kMaxLecturerLen = 64;
constexpr std::size_t kMaxDeviceLabelLen = 96;  // config "device_id": the session label
constexpr std::size_t kMaxDeviceNameLen = 128;
constexpr std::size_t kMaxLocationLen = 128;
constexpr std::size_t kMaxFwLen = 32;
constexpr std::size_t kMaxIpLen = 45;
constexpr std::size_t kMaxReasonLen = 32;
constexpr std::size_t kMaxStateErrorLen = 128;
constexpr std::size_t kMaxEventsPerBatch = 32;
constexpr std::size_t kMaxEventStudentIdLen = 64;  // what the attendance schema accepts
constexpr std::size_t kMaxStudentIdLen = 32;       // what the portal accepts (the id pattern)
constexpr std::size_t kMacTextLen = 17;            // aa:bb:cc:dd:ee:ff
constexpr int kMinRssi = -128;
constexpr int kMaxRssi = 0;

// --- device -------------------------------------------------------------------------------------
constexpr std::size_t kMaxRootLen = 64;
// Longest topic: {root}/devices/{id}/attendance/ack.
constexpr std::size_t kMaxTopicLen = kMaxRootLen + 9 + kMaxDeviceIdLen + 15;
// PubSubClient keeps a whole MQTT packet in its buffer: fixed header (<= 5 bytes), topic length
// (2 bytes), the topic and the payload. A 1024-byte payload needs this much buffer.
constexpr std::size_t kMqttPacketOverhead = 5 + 2 + kMaxTopicLen;
constexpr std::size_t kMqttBufferBytes = kMaxPayloadBytes + kMqttPacketOverhead;
constexpr std::size_t kQueueCapacity = 256;     // check-ins kept in flash until acked
constexpr std::size_t kMaxSeenStudents = 1024;  // duplicate check per session (8 bytes each)
constexpr std::uint32_t kHeartbeatIntervalMs = 30000;
constexpr std::uint32_t kAckTimeoutMs = 30000;  // resend unacked events after this silence
constexpr std::size_t kMaxBatchesPerLoop = 4;   // keeps one loop() pass short
constexpr std::uint16_t kMqttKeepAliveS = 15;   // PubSubClient's default
constexpr std::size_t kMaxStorageKeyLen = 15;   // NVS key names
constexpr std::size_t kMinCaCertBase64 = 64;    // `set ca_cert`: base64 of a CA certificate's DER;
constexpr std::size_t kMaxCaCertBase64 = 3000;  // an RSA-4096 CA fits, an NVS string holds 4000
constexpr std::size_t kMaxFormBodyBytes = 2048;
constexpr std::uint8_t kApMaxConnections = 10;  // softAP default is 4: too few for a classroom

// --- worst-case sizes of what the device sends ---
// Each literal below is the message with every string and number emptied; the terms added are
// the longest value of each field. Strings the device sends are ASCII without characters that
// JSON must escape (ids, SSIDs and student ids are validated; errors and reasons are ours).
template <std::size_t N>
constexpr std::size_t literalLen(const char (&)[N]) {
  return N - 1;
}

constexpr std::size_t kStatusWorstCase =
    literalLen(R"({"v":1,"id":"","online":false,"boot":,"fw":"","ip":"","reason":""})") +
    kMaxDeviceIdLen + kCounterDigits + kMaxFwLen + kMaxIpLen + kMaxReasonLen;
constexpr std::size_t kHeartbeatWorstCase =
    literalLen(R"({"v":1,"id":"","boot":,"uptime_s":,"rssi":-128,"heap":,"fw":"",)"
               R"("config_version":,"stations":,"queued":})") +
    kMaxDeviceIdLen + 6 * kCounterDigits + kMaxFwLen;
constexpr std::size_t kStateWorstCase =
    literalLen(R"({"v":1,"id":"","config_version":,"result":"rejected","active_session":false,)"
               R"("session_id":,"ssid":"","error":"","applied_version":})") +
    kMaxDeviceIdLen + 3 * kCounterDigits + kMaxSsidLen + kMaxStateErrorLen;
constexpr std::size_t kAttendanceEnvelopeWorstCase =
    literalLen(R"({"v":1,"id":"","session_id":,"events":[]})") + kMaxDeviceIdLen + kCounterDigits;
constexpr std::size_t kEventWorstCase =
    literalLen(R"({"seq":,"student_id":"","station_mac":"","uptime_ms":},)") + 2 * kCounterDigits +
    kMaxStudentIdLen + kMacTextLen;

static_assert(kStatusWorstCase <= kMaxPayloadBytes, "status must fit one payload");
static_assert(kHeartbeatWorstCase <= kMaxPayloadBytes, "heartbeat must fit one payload");
static_assert(kStateWorstCase <= kMaxPayloadBytes, "state must fit one payload");
static_assert(kAttendanceEnvelopeWorstCase + kEventWorstCase <= kMaxPayloadBytes,
              "one check-in of any size must fit an attendance message");
static_assert(kMaxStateErrorLen >= 64, "rejection reasons need room");
static_assert(kMqttBufferBytes > kMaxPayloadBytes, "the MQTT buffer holds topic and header too");
static_assert(kQueueCapacity <= 1000, "queue slots are named q000..q999");
static_assert(kHeartbeatIntervalMs > 0 && kAckTimeoutMs > 0, "timers need a period");

}  // namespace fleet
