#include "mqtt_link.h"

#include <fleet_core/limits.h>

namespace glue {
namespace {

constexpr std::uint32_t kBackoffBaseMs = 1000;
constexpr std::uint32_t kBackoffMaxMs = 60000;
constexpr std::uint16_t kConnackTimeoutS = 5;
constexpr unsigned long kTlsHandshakeTimeoutS = 5;

// PubSubClient takes a plain function pointer on some platforms and std::function on others;
// a captureless trampoline to the one link fits both.
MqttLink* g_link = nullptr;

}  // namespace

MqttLink::MqttLink(fleet::RandomSource& random, fleet::Logger& logger)
    : client_(plain_), backoff_(kBackoffBaseMs, kBackoffMaxMs, random), logger_(logger) {}

bool MqttLink::configure(const fleet::NetSettings& settings, const std::string& client_id,
                         const std::string& will_topic, const std::string& will_payload,
                         MqttHandlers handlers) {
  const auto broker = fleet::parseBrokerUrl(settings.broker);
  if (!broker) {
    logger_.log(
        fleet::LogLevel::kWarn,
        "no broker set: on the serial console, `set broker mqtt://host:1883` then `reboot`");
    return false;
  }
  tls_ = broker->tls;
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
    secure_.setHandshakeTimeout(kTlsHandshakeTimeoutS);
    client_.setClient(secure_);
  } else {
    client_.setClient(plain_);
  }
  host_ = broker->host;
  port_ = broker->port;
  client_id_ = client_id;
  user_ = settings.mqtt_user;
  pass_ = settings.mqtt_pass;
  will_topic_ = will_topic;
  will_payload_ = will_payload;
  handlers_ = std::move(handlers);
  // The default 256-byte buffer drops larger messages silently; a packet holds a whole
  // 1024-byte payload plus its topic and header.
  if (!client_.setBufferSize(static_cast<std::uint16_t>(fleet::kMqttBufferBytes))) {
    logger_.log(fleet::LogLevel::kError, "no memory for the MQTT buffer");
    return false;
  }
  client_.setServer(host_.c_str(), port_);
  client_.setKeepAlive(fleet::kMqttKeepAliveS);
  client_.setSocketTimeout(kConnackTimeoutS);
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
    client_.loop();  // reads what arrived; never waits
    return;
  }
  if (was_connected_) {
    was_connected_ = false;
    const std::uint32_t delay = backoff_.next();
    next_attempt_ms_ = now_ms + delay;
    logger_.log(fleet::LogLevel::kWarn, "broker connection lost (state " +
                                            std::to_string(client_.state()) + "); retry in " +
                                            std::to_string(delay) + " ms");
    if (handlers_.disconnected) handlers_.disconnected();
    return;
  }
  if (!network_up) return;
  if (static_cast<std::int32_t>(now_ms - next_attempt_ms_) < 0) return;
  tryConnect(now_ms);
}

void MqttLink::tryConnect(std::uint32_t now_ms) {
  // Blocks for at most the TCP connect timeout plus kConnackTimeoutS (see the header).
  const bool ok = client_.connect(client_id_.c_str(), user_.empty() ? nullptr : user_.c_str(),
                                  pass_.empty() ? nullptr : pass_.c_str(), will_topic_.c_str(),
                                  /*willQos=*/1, /*willRetain=*/true, will_payload_.c_str());
  if (!ok) {
    const std::uint32_t delay = backoff_.next();
    next_attempt_ms_ = now_ms + delay;
    logger_.log(fleet::LogLevel::kWarn,
                std::string(tls_ ? "mqtts://" : "mqtt://") + host_ + ":" + std::to_string(port_) +
                    " refused or unreachable (state " + std::to_string(client_.state()) +
                    "); retry in " + std::to_string(delay) + " ms");
    return;
  }
  backoff_.reset();
  was_connected_ = true;
  logger_.log(fleet::LogLevel::kInfo, std::string("connected to broker ") +
                                          (tls_ ? "mqtts://" : "mqtt://") + host_ + ":" +
                                          std::to_string(port_));
  if (handlers_.connected) handlers_.connected();
}

void MqttLink::disconnect() {
  if (client_.connected()) client_.disconnect();
  was_connected_ = false;
}

bool MqttLink::publish(const std::string& topic, const std::string& payload, bool retained) {
  if (!client_.connected()) return false;
  return client_.publish(topic.c_str(), reinterpret_cast<const std::uint8_t*>(payload.data()),
                         static_cast<unsigned int>(payload.size()), retained);
}

bool MqttLink::subscribe(const std::string& topic, int qos) {
  if (!client_.connected()) return false;
  return client_.subscribe(topic.c_str(), static_cast<std::uint8_t>(qos));
}

bool MqttLink::connected() const {
  return client_.connected();
}

}  // namespace glue
