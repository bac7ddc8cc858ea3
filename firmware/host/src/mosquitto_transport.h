// fleet::Transport over libmosquitto (the one place it is used). Runs in the caller's thread:
// service() connects when due (non-blocking connect, reconnects spaced by the core's Backoff)
// and runs mosquitto_loop(); its callbacks hand events to the handlers in that same thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "fleet_core/backoff.h"
#include "fleet_core/connect_policy.h"
#include "fleet_core/ports.h"

struct mosquitto;
struct mosquitto_message;

namespace host {

struct MqttOptions {
  std::string client_id;
  // host and port of each broker, tried in this order: a cluster's nodes (at least one)
  std::vector<std::pair<std::string, std::uint16_t>> brokers;
  std::string username;
  std::string password;
  std::string cafile;  // non-empty: TLS, trusting only this CA (and checking the host name)
  int keepalive_s = 15;
  std::uint32_t backoff_base_ms = 1000;
  std::uint32_t backoff_max_ms = 30000;
  std::uint32_t connect_timeout_ms = 10000;
};

struct MqttHandlers {
  std::function<void()> connected;
  std::function<void()> disconnected;
  std::function<void(const std::string& topic, const std::uint8_t* payload, std::size_t len)>
      message;
};

class MosquittoTransport : public fleet::Transport {
 public:
  MosquittoTransport(MqttOptions options, fleet::RandomSource& random, fleet::Logger& logger);
  ~MosquittoTransport() override;
  MosquittoTransport(const MosquittoTransport&) = delete;
  MosquittoTransport& operator=(const MosquittoTransport&) = delete;

  // Creates the client; false when libmosquitto cannot.
  bool init(MqttHandlers handlers);
  // The last will (retained, QoS 1), used by every later connect.
  bool setWill(const std::string& topic, const std::string& payload);
  // One pass: connect if due, then network I/O for up to `timeout_ms`.
  void service(std::uint32_t now_ms, int timeout_ms);
  // Sends DISCONNECT after everything queued and waits for it, at most `timeout_ms`.
  void disconnect(int timeout_ms);
  // Address of our end of the broker connection ("" when not connected).
  std::string localIp() const;

  bool publish(const std::string& topic, const std::string& payload, bool retained) override;
  bool subscribe(const std::string& topic, int qos) override;
  bool connected() const override { return state_ == State::kConnected; }

 private:
  enum class State { kIdle, kConnecting, kConnected };

  static void onConnect(struct mosquitto*, void* self, int rc);
  static void onDisconnect(struct mosquitto*, void* self, int rc);
  static void onMessage(struct mosquitto*, void* self, const struct mosquitto_message* message);

  void startConnect(std::uint32_t now_ms);
  void connectionLost(std::uint32_t now_ms, const std::string& why);
  std::string where() const;

  MqttOptions options_;
  fleet::Backoff backoff_;
  fleet::BrokerRotation rotation_;
  fleet::Logger& logger_;
  MqttHandlers handlers_;
  struct mosquitto* mosq_ = nullptr;
  std::atomic<State> state_{State::kIdle};
  std::uint32_t next_attempt_ms_ = 0;
  std::uint32_t attempt_started_ms_ = 0;
  std::uint32_t now_ms_ = 0;
};

// Runs mosquitto_lib_init/cleanup for the life of the object.
class MosquittoLibrary {
 public:
  MosquittoLibrary();
  ~MosquittoLibrary();
};

}  // namespace host
