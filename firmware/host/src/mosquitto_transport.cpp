#include "mosquitto_transport.h"

#include <arpa/inet.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

namespace host {

MosquittoLibrary::MosquittoLibrary() {
  mosquitto_lib_init();
}
MosquittoLibrary::~MosquittoLibrary() {
  mosquitto_lib_cleanup();
}

MosquittoTransport::MosquittoTransport(MqttOptions options, fleet::RandomSource& random,
                                       fleet::Logger& logger)
    : options_(std::move(options)),
      backoff_(options_.backoff_base_ms, options_.backoff_max_ms, random),
      rotation_(options_.brokers.size()),
      logger_(logger) {}

MosquittoTransport::~MosquittoTransport() {
  if (mosq_ != nullptr) mosquitto_destroy(mosq_);
}

bool MosquittoTransport::init(MqttHandlers handlers) {
  handlers_ = std::move(handlers);
  mosq_ =
      mosquitto_new(options_.client_id.c_str(), true, this);  // clean session, like PubSubClient
  if (mosq_ == nullptr) return false;
  mosquitto_connect_callback_set(mosq_, &MosquittoTransport::onConnect);
  mosquitto_disconnect_callback_set(mosq_, &MosquittoTransport::onDisconnect);
  mosquitto_message_callback_set(mosq_, &MosquittoTransport::onMessage);
  if (!options_.username.empty() &&
      mosquitto_username_pw_set(mosq_, options_.username.c_str(),
                                options_.password.empty() ? nullptr : options_.password.c_str()) !=
          MOSQ_ERR_SUCCESS) {
    return false;
  }
  if (!options_.cafile.empty()) {
    // Trust this CA only; libmosquitto also checks the broker's certificate names the host.
    const int rc =
        mosquitto_tls_set(mosq_, options_.cafile.c_str(), nullptr, nullptr, nullptr, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      logger_.log(fleet::LogLevel::kError,
                  "cannot use CA file " + options_.cafile + ": " + mosquitto_strerror(rc));
      return false;
    }
    if (mosquitto_tls_opts_set(mosq_, /*cert_reqs=SSL_VERIFY_PEER*/ 1, nullptr, nullptr) !=
        MOSQ_ERR_SUCCESS) {
      return false;
    }
  }
  return true;
}

bool MosquittoTransport::setWill(const std::string& topic, const std::string& payload) {
  return mosquitto_will_set(mosq_, topic.c_str(), static_cast<int>(payload.size()), payload.data(),
                            1, true) == MOSQ_ERR_SUCCESS;
}

void MosquittoTransport::startConnect(std::uint32_t now_ms) {
  attempt_started_ms_ = now_ms;
  const auto& [host, port] = options_.brokers.at(rotation_.current());
  const int rc = mosquitto_connect_async(mosq_, host.c_str(), port, options_.keepalive_s);
  if (rc != MOSQ_ERR_SUCCESS) {
    connectionLost(now_ms, std::string("connect: ") + mosquitto_strerror(rc));
    return;
  }
  state_ = State::kConnecting;
}

void MosquittoTransport::connectionLost(std::uint32_t now_ms, const std::string& why) {
  const bool was_connected = state_ == State::kConnected;
  state_ = State::kIdle;
  const std::uint32_t delay = backoff_.next();
  next_attempt_ms_ = now_ms + delay;
  const std::string failed = where();
  rotation_.failed();  // the next attempt goes to the next broker of the list
  logger_.log(fleet::LogLevel::kWarn, "broker " + failed + " " + why + "; retry in " +
                                          std::to_string(delay) + " ms" +
                                          (options_.brokers.size() > 1 ? " on " + where() : ""));
  if (was_connected && handlers_.disconnected) handlers_.disconnected();
}

std::string MosquittoTransport::where() const {
  const auto& [host, port] = options_.brokers.at(rotation_.current());
  return host + ":" + std::to_string(port);
}

void MosquittoTransport::service(std::uint32_t now_ms, int timeout_ms) {
  now_ms_ = now_ms;
  if (state_ == State::kIdle) {
    if (static_cast<std::int32_t>(now_ms - next_attempt_ms_) < 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
      return;
    }
    startConnect(now_ms);
    if (state_ == State::kIdle) return;
  }
  if (state_ == State::kConnecting && now_ms - attempt_started_ms_ > options_.connect_timeout_ms) {
    mosquitto_disconnect(mosq_);
    connectionLost(now_ms, "did not answer");
    return;
  }
  const int rc = mosquitto_loop(mosq_, timeout_ms, 1);
  if (rc != MOSQ_ERR_SUCCESS && state_ != State::kIdle) {
    connectionLost(now_ms, std::string("connection: ") + mosquitto_strerror(rc));
    std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
  }
}

void MosquittoTransport::disconnect(int timeout_ms) {
  if (state_ != State::kConnected) return;
  mosquitto_disconnect(mosq_);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (state_ == State::kConnected && std::chrono::steady_clock::now() < deadline) {
    if (mosquitto_loop(mosq_, 50, 1) != MOSQ_ERR_SUCCESS) break;
  }
  state_ = State::kIdle;
}

std::string MosquittoTransport::localIp() const {
  if (mosq_ == nullptr || state_ != State::kConnected) return std::string();
  const int fd = mosquitto_socket(mosq_);
  if (fd < 0) return std::string();
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return std::string();
  char text[INET6_ADDRSTRLEN] = {0};
  const void* raw =
      addr.ss_family == AF_INET6
          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr)
          : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&addr)->sin_addr);
  if (inet_ntop(addr.ss_family, raw, text, sizeof text) == nullptr) return std::string();
  return text;
}

bool MosquittoTransport::publish(const std::string& topic, const std::string& payload,
                                 bool retained) {
  if (state_ != State::kConnected) return false;
  return mosquitto_publish(mosq_, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                           payload.data(), 0, retained) == MOSQ_ERR_SUCCESS;
}

bool MosquittoTransport::subscribe(const std::string& topic, int qos) {
  if (state_ != State::kConnected) return false;
  return mosquitto_subscribe(mosq_, nullptr, topic.c_str(), qos) == MOSQ_ERR_SUCCESS;
}

void MosquittoTransport::onConnect(struct mosquitto*, void* self, int rc) {
  auto* transport = static_cast<MosquittoTransport*>(self);
  if (rc != 0) {
    transport->connectionLost(
        transport->now_ms_, std::string("refused the connection: ") + mosquitto_connack_string(rc));
    return;
  }
  transport->state_ = State::kConnected;
  transport->backoff_.reset();
  transport->logger_.log(fleet::LogLevel::kInfo, "connected to broker " + transport->where());
  if (transport->handlers_.connected) transport->handlers_.connected();
}

void MosquittoTransport::onDisconnect(struct mosquitto*, void* self, int rc) {
  auto* transport = static_cast<MosquittoTransport*>(self);
  if (rc == 0) {  // we asked for it
    transport->state_ = State::kIdle;
    return;
  }
  if (transport->state_ != State::kIdle)
    transport->connectionLost(transport->now_ms_, "connection lost");
}

void MosquittoTransport::onMessage(struct mosquitto*, void* self,
                                   const struct mosquitto_message* message) {
  auto* transport = static_cast<MosquittoTransport*>(self);
  if (transport->handlers_.message == nullptr || message->topic == nullptr) return;
  transport->handlers_.message(
      message->topic, static_cast<const std::uint8_t*>(message->payload),
      message->payloadlen < 0 ? 0 : static_cast<std::size_t>(message->payloadlen));
}

}  // namespace host
