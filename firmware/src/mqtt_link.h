// fleet::Transport over PubSubClient, plus the connect/reconnect schedule.
//
// Every call here runs in loop(), which also serves the captive portal, so each blocking call is
// bounded (limits in lib/fleet_core/src/fleet_core/connect_policy.h; units checked against the
// arduino-esp32 2.0.17 and PubSubClient 2.8 headers, where all of these take whole seconds):
// - The broker's name is resolved without blocking (dns_lookup.h); an answer overdue after
//   kDnsLookupTimeoutMs fails the attempt. An IP address needs no lookup.
// - One connect attempt blocks: the TCP connect (setTimeout: kConnectTimeouts.tcp_connect_s = 2 s;
//   WiFiClientSecure's default was 30 s), for mqtts:// the TLS handshake (setHandshakeTimeout:
//   5 s, checked between mbedTLS steps, so budgeted 6 s; default 120 s), then the CONNACK wait
//   (setSocketTimeout: 2 s; default 15 s). At most 10 s in all (kMaxConnectStallMs, a
//   static_assert), 4 s for mqtt://.
// - Attempts follow the backoff (1 s doubling to 60 s, with jitter), only while the station is
//   joined, and never sooner after a failure than that attempt blocked (fleet::ReconnectSchedule),
//   so the portal runs at least half of the time while the broker is unreachable.
// - Connected, loop() reads only what has arrived, but once a packet has begun it waits for each
//   further byte up to the socket timeout (2 s). publish() and subscribe() wait for room in the
//   TCP send buffer: WiFiClient retries select() 10 times for 1 s without progress, WiFiClientSecure
//   gives up after its 2 s timeout. A failed write drops the connection, so a broker that stopped
//   reading costs one such wait, not one per message; the link then reconnects as above.
//
// `set broker` may list a cluster's nodes (mqtt://a:1883,b:1883,c:1883, one scheme): every failed
// attempt or lost connection moves to the next (fleet::BrokerRotation), after the same backoff.
// PubSubClient does not report a SUBACK's return code: a subscription a node refuses (NATS does
// while a stream leader moves) goes unnoticed until the connection is lost.
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
#include <vector>

#include <fleet_core/connect_policy.h>
#include <fleet_core/ports.h>
#include <fleet_core/provisioning.h>

#include "dns_lookup.h"

namespace glue {

struct MqttHandlers {
  std::function<void()> connected;
  std::function<void()> disconnected;
  std::function<void(const std::string& topic, const std::uint8_t* payload, std::size_t len)>
      message;
};

class MqttLink : public fleet::Transport {
 public:
  MqttLink(fleet::Clock& clock, fleet::RandomSource& random, fleet::Logger& logger);

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
  void tryConnect(const IPAddress& address);
  bool openSocket(const IPAddress& address);
  // A failed attempt or a lost connection: the backoff's next delay, and the list's next broker.
  void retryLater(std::uint32_t now_ms, std::uint32_t blocked_ms, const std::string& why);
  void useCurrentBroker();  // host_ and port_ of rotation_.current()
  // After a write that failed while connected: close the socket without another write.
  bool keptUp(bool written);

  WiFiClient plain_;
  WiFiClientSecure secure_;
  mutable PubSubClient client_;
  DnsLookup lookup_;
  fleet::ReconnectSchedule schedule_;
  fleet::Clock& clock_;
  fleet::Logger& logger_;
  MqttHandlers handlers_;
  std::vector<fleet::BrokerUrl> brokers_;  // `set broker`: one, or a cluster's nodes
  fleet::BrokerRotation rotation_{1};
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
  bool resolving_ = false;
};

}  // namespace glue
