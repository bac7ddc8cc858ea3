// fleet::Transport over PubSubClient, plus the connect/reconnect schedule.
//
// PubSubClient::connect() blocks: the TCP connect (bounded by WiFiClient's connect timeout,
// 3 s by default), a DNS lookup when the broker is a name, for mqtts:// the TLS handshake
// (bounded by kTlsHandshakeTimeoutS), and the wait for CONNACK (bounded by setSocketTimeout,
// kConnackTimeoutS). loop() therefore tries at most one connect per backoff delay (exponential
// with jitter, 1 s doubling to 60 s), and only while the station is joined, so a missing broker
// costs at most one bounded stall per delay and the captive portal keeps answering in between.
// Everything else here returns at once.
//
// Credentials (mqtt_user = the device id, mqtt_pass) come from NVS, provisioned on the serial
// console. mqtts:// uses WiFiClientSecure with the CA from NVS (`set ca_cert`) pinned: the broker
// must present a certificate that CA signed, for the host name in the broker URL (use the name
// in the certificate, not an IP address). Without a CA an mqtts:// link stays down: it never
// falls back to an unverified connection.
#pragma once

#include <PubSubClient.h>
#include <WiFiClient.h>
#include <WiFiClientSecure.h>

#include <cstdint>
#include <functional>
#include <string>

#include <fleet_core/backoff.h>
#include <fleet_core/ports.h>
#include <fleet_core/provisioning.h>

namespace glue {

struct MqttHandlers {
  std::function<void()> connected;
  std::function<void()> disconnected;
  std::function<void(const std::string& topic, const std::uint8_t* payload, std::size_t len)>
      message;
};

class MqttLink : public fleet::Transport {
 public:
  MqttLink(fleet::RandomSource& random, fleet::Logger& logger);

  // False when the broker URL is missing or malformed, or mqtts:// has no CA (the link then
  // stays down).
  bool configure(const fleet::NetSettings& settings, const std::string& client_id,
                 const std::string& will_topic, const std::string& will_payload,
                 MqttHandlers handlers);
  void loop(std::uint32_t now_ms, bool network_up);
  void disconnect();

  bool publish(const std::string& topic, const std::string& payload, bool retained) override;
  bool subscribe(const std::string& topic, int qos) override;
  bool connected() const override;

 private:
  void tryConnect(std::uint32_t now_ms);

  WiFiClient plain_;
  WiFiClientSecure secure_;
  mutable PubSubClient client_;
  fleet::Backoff backoff_;
  fleet::Logger& logger_;
  MqttHandlers handlers_;
  std::string host_;
  std::uint16_t port_ = 1883;
  std::string client_id_;
  std::string user_;
  std::string pass_;
  std::string ca_pem_;  // WiFiClientSecure keeps a pointer to it: it lives as long as the link
  bool tls_ = false;
  std::string will_topic_;
  std::string will_payload_;
  bool configured_ = false;
  bool was_connected_ = false;
  std::uint32_t next_attempt_ms_ = 0;
};

}  // namespace glue
