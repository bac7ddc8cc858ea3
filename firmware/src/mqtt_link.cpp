#include "mqtt_link.h"

#include <fleet_core/limits.h>

namespace glue {
namespace {

constexpr fleet::ConnectTimeouts kTimeouts = fleet::kConnectTimeouts;

// PubSubClient takes a plain function pointer on some platforms and std::function on others;
// a captureless trampoline to the one link fits both.
MqttLink* g_link = nullptr;

std::string scheme(bool tls) {
  return tls ? "mqtts://" : "mqtt://";
}

}  // namespace

MqttLink::MqttLink(fleet::Clock& clock, fleet::RandomSource& random, fleet::Logger& logger)
    : client_(plain_), schedule_(random), clock_(clock), logger_(logger) {}

bool MqttLink::configure(const fleet::NetSettings& settings, const std::string& client_id,
                         const std::string& will_topic, const std::string& will_payload,
                         MqttHandlers handlers) {
  const auto brokers = fleet::parseBrokerList(settings.broker);
  if (!brokers) {
    logger_.log(
        fleet::LogLevel::kWarn,
        "no broker set: on the serial console, `set broker mqtt://host:1883` then `reboot`");
    return false;
  }
  tls_ = brokers->front().tls;  // the list's one scheme
  if (tls_) {
    if (settings.ca_cert.empty()) {
      logger_.log(
          fleet::LogLevel::kError,
          "mqtts:// needs the broker's CA: `set ca_cert <base64>` (printed by `fleet device "
          "provision`) then `reboot`");
      return false;
    }
    ca_pem_ = fleet::pemCertificate(settings.ca_cert);
    secure_.setCACert(ca_pem_.c_str());
    // Both in seconds (2.0.17: setTimeout(uint32_t seconds) sets the 30 s `_timeout` of the TCP
    // connect to seconds * 1000; setHandshakeTimeout stores seconds * 1000).
    secure_.setTimeout(kTimeouts.tcp_connect_s);
    secure_.setHandshakeTimeout(kTimeouts.tls_handshake_s);
    client_.setClient(secure_);
  } else {
    plain_.setTimeout(kTimeouts.tcp_connect_s);  // seconds; openSocket() passes it again in ms
    client_.setClient(plain_);
  }
  brokers_ = *brokers;
  rotation_ = fleet::BrokerRotation(brokers_.size());
  useCurrentBroker();
  client_id_ = client_id;
  user_ = settings.mqtt_user;
  pass_ = settings.mqtt_pass;
  will_topic_ = will_topic;
  will_payload_ = will_payload;
  handlers_ = std::move(handlers);
  // The default 256-byte buffer drops larger messages silently; a packet holds a whole
  // 1024-byte payload plus its topic and header (limits.h).
  if (!client_.setBufferSize(static_cast<std::uint16_t>(fleet::kMqttBufferBytes))) {
    logger_.log(fleet::LogLevel::kError, "no memory for the MQTT buffer");
    return false;
  }
  client_.setKeepAlive(fleet::kMqttKeepAliveS);
  client_.setSocketTimeout(static_cast<std::uint16_t>(kTimeouts.socket_s));
  g_link = this;
  client_.setCallback([](char* topic, std::uint8_t* payload, unsigned int length) {
    if (g_link != nullptr && g_link->handlers_.message) {
      g_link->handlers_.message(topic, payload, length);
    }
  });
  configured_ = true;
  return true;
}

void MqttLink::loop(std::uint32_t now_ms, bool network_up) {
  if (!configured_) return;
  if (client_.connected()) {
    client_.loop();  // handles what has arrived (see the header for the wait inside a packet)
    return;
  }
  if (was_connected_) {
    was_connected_ = false;
    retryLater(now_ms, 0, "broker connection lost (state " + std::to_string(client_.state()) + ")");
    if (handlers_.disconnected) handlers_.disconnected();
    return;
  }
  if (!network_up || !schedule_.due(now_ms)) return;
  if (!resolving_) {
    lookup_.start(host_, now_ms);
    resolving_ = true;
  }
  const DnsLookup::State state = lookup_.poll(now_ms);
  if (state == DnsLookup::State::kPending) return;
  resolving_ = false;
  if (state != DnsLookup::State::kResolved) {
    retryLater(now_ms, 0, "no DNS answer for " + host_);
    return;
  }
  tryConnect(lookup_.address());
}

void MqttLink::tryConnect(const IPAddress& address) {
  // Blocks for at most fleet::connectStallBoundMs(kTimeouts, tls_) (see the header).
  const std::uint32_t started = clock_.millis();
  // By address: should PubSubClient ever open the socket itself, it must not resolve the name
  // with the blocking hostByName().
  client_.setServer(address, port_);
  const bool socket = openSocket(address);
  const bool ok =
      socket && client_.connect(client_id_.c_str(), user_.empty() ? nullptr : user_.c_str(),
                                pass_.empty() ? nullptr : pass_.c_str(), will_topic_.c_str(),
                                /*willQos=*/1, /*willRetain=*/true, will_payload_.c_str());
  const std::uint32_t now_ms = clock_.millis();
  const std::uint32_t blocked_ms = now_ms - started;
  const std::string where = scheme(tls_) + host_ + ":" + std::to_string(port_);
  if (!ok) {
    retryLater(now_ms, blocked_ms,
               where + (socket ? " refused the MQTT connect (state " +
                                     std::to_string(client_.state()) + ")"
                               : (tls_ ? " unreachable or TLS failed" : " unreachable")) +
                   " after " + std::to_string(blocked_ms) + " ms");
    return;
  }
  schedule_.succeeded();
  was_connected_ = true;
  logger_.log(fleet::LogLevel::kInfo, "connected to broker " + where);
  if (handlers_.connected) handlers_.connected();
}

bool MqttLink::openSocket(const IPAddress& address) {
  if (tls_) {
    // The host name (not the address) is what the certificate is checked against.
    return secure_.connect(address, port_, host_.c_str(), ca_pem_.c_str(), nullptr, nullptr) == 1;
  }
  return plain_.connect(address, port_,
                        static_cast<std::int32_t>(fleet::secondsToMs(kTimeouts.tcp_connect_s))) ==
         1;
}

void MqttLink::retryLater(std::uint32_t now_ms, std::uint32_t blocked_ms, const std::string& why) {
  const std::uint32_t delay = schedule_.failed(now_ms, blocked_ms);
  rotation_.failed();  // a cluster's next node, after the same backoff (one broker: that one)
  useCurrentBroker();
  logger_.log(fleet::LogLevel::kWarn, why + "; retry in " + std::to_string(delay) + " ms" +
                                          (brokers_.size() > 1 ? " on " + host_ : ""));
}

void MqttLink::useCurrentBroker() {
  const fleet::BrokerUrl& broker = brokers_[rotation_.current()];
  host_ = broker.host;
  port_ = broker.port;
}

bool MqttLink::keptUp(bool written) {
  if (!written && client_.connected()) {
    // PubSubClient::disconnect() would write DISCONNECT into the same full send buffer.
    if (tls_) {
      secure_.stop();
    } else {
      plain_.stop();
    }
    logger_.log(fleet::LogLevel::kWarn, "write to the broker failed; dropping the connection");
  }
  return written;
}

void MqttLink::disconnect() {
  if (client_.connected()) client_.disconnect();
  was_connected_ = false;
}

bool MqttLink::publish(const std::string& topic, const std::string& payload, bool retained) {
  if (!client_.connected()) return false;
  // Every payload fits the buffer (limits.h), so a false here is a failed write.
  return keptUp(client_.publish(topic.c_str(),
                                reinterpret_cast<const std::uint8_t*>(payload.data()),
                                static_cast<unsigned int>(payload.size()), retained));
}

bool MqttLink::subscribe(const std::string& topic, int qos) {
  if (!client_.connected()) return false;
  return keptUp(client_.subscribe(topic.c_str(), static_cast<std::uint8_t>(qos)));
}

bool MqttLink::connected() const {
  return client_.connected();
}

}  // namespace glue
