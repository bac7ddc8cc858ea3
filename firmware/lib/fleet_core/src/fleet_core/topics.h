// Topic names of the contract: `{root}/devices/{id}/{channel}` built for one device, and inbound
// topics parsed back into (device id, channel).
#pragma once

#include <optional>
#include <string>

namespace fleet {

enum class Channel {
  kStatus,
  kHeartbeat,
  kConfig,
  kState,
  kAttendance,
  kAttendanceAck,
  kUpdate,
  kUpdateState,
};

// "status", "heartbeat", "config", "state", "attendance", "attendance/ack", "update",
// "update/state"
const char* channelLeaf(Channel channel);

// A topic root: 1..kMaxRootLen bytes of levels of [A-Za-z0-9._-] separated by single '/', not
// starting with '.' (the controller's rule, docs/contract.md).
bool isValidRoot(const std::string& root);

struct DeviceTopic {
  std::string device_id;
  Channel channel;
};

// `{root}/devices/{id}/{leaf}` → (id, channel); nothing for any other topic.
std::optional<DeviceTopic> parseDeviceTopic(const std::string& root, const std::string& topic);

// The topics of one device. Construct only with a valid root and device id (see isValid*).
class Topics {
 public:
  Topics(std::string root, std::string device_id);

  std::string of(Channel channel) const;
  std::string status() const { return of(Channel::kStatus); }
  std::string heartbeat() const { return of(Channel::kHeartbeat); }
  std::string config() const { return of(Channel::kConfig); }
  std::string state() const { return of(Channel::kState); }
  std::string attendance() const { return of(Channel::kAttendance); }
  std::string attendanceAck() const { return of(Channel::kAttendanceAck); }
  std::string update() const { return of(Channel::kUpdate); }
  std::string updateState() const { return of(Channel::kUpdateState); }
  std::string controllerStatus() const { return root_ + "/controller/status"; }

  const std::string& root() const { return root_; }
  const std::string& deviceId() const { return device_id_; }

 private:
  std::string root_;
  std::string device_id_;
};

}  // namespace fleet
