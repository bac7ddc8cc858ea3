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
// update / update_state (firmware images, issue 16)
constexpr std::size_t kMinFwVersionLen = 5;   // "1.0.0"
constexpr std::size_t kMaxFwVersionLen = 31;  // esp_app_desc_t.version is char[32]
constexpr std::size_t kMinUpdateUrlLen = 8;
constexpr std::size_t kMaxUpdateUrlLen = 256;
constexpr std::uint32_t kMaxImageBytes = 16777216;  // 16 MiB: the largest ESP32 flash
constexpr std::size_t kSha256HexLen = 64;
constexpr std::size_t kMinSignatureChars = 12;  // base64 of a DER ECDSA-Sig-Value, <= 72 bytes
constexpr std::size_t kMaxSignatureChars = 96;
constexpr std::size_t kMaxUpdateReasonLen = 64;
constexpr int kMinRssi = -128;
constexpr int kMaxRssi = 0;

// --- device -------------------------------------------------------------------------------------
// Topic root ("fleet"), in bytes. The contract caps it at 64 characters and the controller's roots
// are ASCII, so characters and bytes agree; the MQTT buffer below is sized for it.
constexpr std::size_t kMaxRootLen = 64;
// Longest topic: {root}/devices/{id}/attendance/ack.
constexpr std::size_t kMaxTopicLen = kMaxRootLen + 9 + kMaxDeviceIdLen + 15;
// The will topic: {root}/devices/{id}/status.
constexpr std::size_t kMaxStatusTopicLen = kMaxRootLen + 9 + kMaxDeviceIdLen + 7;
constexpr std::size_t kMaxMqttUserLen = 64;   // `set mqtt_user`
constexpr std::size_t kMaxMqttPassLen = 128;  // `set mqtt_pass`

// PubSubClient keeps a whole MQTT packet in one buffer, and drops an inbound packet that does not
// fit without a word. The largest packet the device receives is a QoS 1 PUBLISH (config,
// attendance/ack) on the longest topic with a full payload: the fixed header (1 byte plus a
// remaining length of 1..4 bytes, so at most 5), the topic length (2), the topic, the packet id
// (2, QoS 1 only) and the payload. For these lengths the remaining length takes 2 bytes, so the
// header is 3 bytes today; counting 5 keeps the sum an upper bound for any lengths. The buffer is
// set at run time with setBufferSize() (mqtt_link.cpp); PubSubClient's MQTT_MAX_PACKET_SIZE only
// sizes its first buffer, so the build does not define it.
constexpr std::size_t kMqttMaxFixedHeaderBytes = 5;
constexpr std::size_t kMqttLengthPrefixBytes = 2;  // before the topic and each CONNECT string
constexpr std::size_t kMqttPacketIdBytes = 2;
constexpr std::size_t kMqttPacketOverhead =
    kMqttMaxFixedHeaderBytes + kMqttLengthPrefixBytes + kMaxTopicLen + kMqttPacketIdBytes;
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
// Firmware updates (update_agent.h).
constexpr std::size_t kUpdateChunkBytes = 4096;        // read from the download per loop() pass
constexpr std::uint32_t kUpdatePercentStep = 10;       // update_state "downloading" every 10 %
constexpr std::uint32_t kUpdateRetryMs = 5000;         // a broken download resumes after this
constexpr std::uint32_t kUpdateMaxAttempts = 5;        // then the update fails: download_error
constexpr std::uint32_t kUpdateRebootDelayMs = 1000;   // "rebooting" leaves before the reboot
constexpr std::uint32_t kConfirmSettleMs = 5000;       // connected this long without a config
constexpr std::uint32_t kConfirmDeadlineMs = 600000;   // a new image not back at work: roll back
constexpr std::size_t kMinUpdateKeyBase64 = 64;        // `set update_key`: SubjectPublicKeyInfo
constexpr std::size_t kMaxUpdateKeyBase64 = 400;       // DER in base64 (P-256: 124 characters)
constexpr std::uint8_t kApMaxConnections = 10;  // softAP default is 4: too few for a classroom
// The ESP32's soft AP admits one station more than the device serves (max_connection), so that a
// phone joining a full access point raises an event: the core refuses it, counts it and releases
// it at once (Device::joinStation). Past max_connection the driver refuses without telling.
constexpr std::uint8_t kApRadioConnections = kApMaxConnections + 1;
// The soft AP's DHCP server (ESP32; soft_access_point.cpp applies these). ESP-IDF 4.4's server
// (components/lwip/apps/dhcpserver/dhcpserver.c) holds at most CONFIG_LWIP_DHCPS_MAX_STATION_NUM
// leases (8 in the Arduino core's prebuilt sdkconfig): each second it drops the lease granted or
// renewed longest ago, associated phone or not, and may offer that address again. It frees no
// lease when a phone leaves. arduino-esp32's softAPConfig() gives it 11 addresses, so with 10
// phones joined a new phone soon got an address an earlier one still used. A pool of
// kDhcpPoolSize addresses offers a dropped address again only after about kDhcpPoolSize - 8
// newer leases. Phones renew after half the lease; a phone whose lease was dropped is then
// refused and takes a fresh address, so no phone keeps a handed-back address for more than
// kDhcpLeaseMinutes / 2, far less than the time 10 slots need to pass 92 new phones.
constexpr std::uint8_t kDhcpPoolSize = 100;     // addresses after the AP's; <= DHCPS_MAX_LEASE
constexpr std::uint32_t kDhcpLeaseMinutes = 2;  // ESP-IDF counts leases in minutes (default 120)
static_assert(kDhcpPoolSize >= kApRadioConnections, "each station the radio admits needs an address");
static_assert(kDhcpLeaseMinutes >= 1, "ESP-IDF takes a lease of 0 minutes as its 120-minute default");

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
               R"("config_version":,"stations":,"queued":,"stations_peak":,"stations_refused":,)"
               R"("checkins_served":,"images_refused":})") +
    kMaxDeviceIdLen + 10 * kCounterDigits + kMaxFwLen;
constexpr std::size_t kStateWorstCase =
    literalLen(R"({"v":1,"id":"","config_version":,"result":"rejected","active_session":false,)"
               R"("session_id":,"ssid":"","error":"","applied_version":})") +
    kMaxDeviceIdLen + 3 * kCounterDigits + kMaxSsidLen + kMaxStateErrorLen;
constexpr std::size_t kUpdateStateWorstCase =
    literalLen(R"({"v":1,"id":"","version":"","state":"rolled_back","percent":100,"reason":"",)"
               R"("running":""})") +
    kMaxDeviceIdLen + kMaxFwVersionLen + kMaxUpdateReasonLen + kMaxFwLen;
constexpr std::size_t kAttendanceEnvelopeWorstCase =
    literalLen(R"({"v":1,"id":"","session_id":,"events":[]})") + kMaxDeviceIdLen + kCounterDigits;
constexpr std::size_t kEventWorstCase =
    literalLen(R"({"seq":,"student_id":"","station_mac":"","uptime_ms":},)") + 2 * kCounterDigits +
    kMaxStudentIdLen + kMacTextLen;

static_assert(kStatusWorstCase <= kMaxPayloadBytes, "status must fit one payload");
static_assert(kHeartbeatWorstCase <= kMaxPayloadBytes, "heartbeat must fit one payload");
static_assert(kStateWorstCase <= kMaxPayloadBytes, "state must fit one payload");
static_assert(kUpdateStateWorstCase <= kMaxPayloadBytes, "update_state must fit one payload");
static_assert(kConfirmDeadlineMs > kConfirmSettleMs, "a new image needs time to settle");
static_assert(kUpdateChunkBytes > 0 && kUpdatePercentStep > 0 && kUpdateMaxAttempts > 0,
              "an update needs to move on");
static_assert(kAttendanceEnvelopeWorstCase + kEventWorstCase <= kMaxPayloadBytes,
              "one check-in of any size must fit an attendance message");
static_assert(kMaxStateErrorLen >= 64, "rejection reasons need room");

// --- MQTT packets in PubSubClient's buffer (MQTT 3.1.1) ---
// Bytes of the "remaining length" field for a value n: 7 bits a byte, 1..4 bytes (section 2.2.3).
constexpr std::size_t mqttRemainingLengthBytes(std::size_t n) {
  return n < 128u ? 1 : n < 16384u ? 2 : n < 2097152u ? 3 : 4;
}
// A whole PUBLISH packet as it sits in the buffer.
constexpr std::size_t mqttPublishBytes(std::size_t topic_len, std::size_t payload_len, bool qos1) {
  const std::size_t rest =
      kMqttLengthPrefixBytes + topic_len + (qos1 ? kMqttPacketIdBytes : 0) + payload_len;
  return 1 + mqttRemainingLengthBytes(rest) + rest;
}
// The CONNECT PubSubClient builds: its 5 reserved header bytes, protocol name and level (7),
// flags (1), keepalive (2), then client id, will topic, will payload, user and password, each
// with a 2-byte length. PubSubClient refuses to connect when it does not fit the buffer.
constexpr std::size_t kMqttConnectWorstCase =
    kMqttMaxFixedHeaderBytes + 7 + 1 + 2 + 5 * kMqttLengthPrefixBytes + kMaxDeviceIdLen +
    kMaxStatusTopicLen + kStatusWorstCase + kMaxMqttUserLen + kMaxMqttPassLen;

static_assert(mqttPublishBytes(kMaxTopicLen, kMaxPayloadBytes, /*qos1=*/true) <= kMqttBufferBytes,
              "the largest inbound QoS 1 PUBLISH must fit PubSubClient's buffer");
static_assert(kMqttMaxFixedHeaderBytes + kMqttLengthPrefixBytes + kMaxTopicLen + kMaxPayloadBytes <=
                  kMqttBufferBytes,
              "PubSubClient::publish needs its 5 reserved header bytes, topic and payload");
static_assert(kMqttConnectWorstCase <= kMqttBufferBytes, "the CONNECT with its will must fit");
static_assert(kMqttBufferBytes <= 0xFFFFu, "setBufferSize() takes a uint16_t");
static_assert(kQueueCapacity <= 1000, "queue slots are named q000..q999");
static_assert(kHeartbeatIntervalMs > 0 && kAckTimeoutMs > 0, "timers need a period");

}  // namespace fleet
