#include "fleet_core/topics.h"

#include <utility>

#include "fleet_core/identifiers.h"
#include "fleet_core/limits.h"

namespace fleet {
namespace {

constexpr const char* kDevicesLevel = "/devices/";

struct LeafName {
  Channel channel;
  const char* leaf;
};

constexpr LeafName kLeaves[] = {
    {Channel::kStatus, "status"},         {Channel::kHeartbeat, "heartbeat"},
    {Channel::kConfig, "config"},         {Channel::kState, "state"},
    {Channel::kAttendance, "attendance"}, {Channel::kAttendanceAck, "attendance/ack"},
    {Channel::kUpdate, "update"},         {Channel::kUpdateState, "update/state"},
};

}  // namespace

const char* channelLeaf(Channel channel) {
  for (const LeafName& entry : kLeaves) {
    if (entry.channel == channel) return entry.leaf;
  }
  return "";
}

bool isValidRoot(const std::string& root) {
  if (root.empty() || root.size() > kMaxRootLen) return false;
  if (root.front() == '/' || root.back() == '/') return false;
  if (root.find("//") != std::string::npos) return false;
  // The contract's character set (the controller refuses any other root): letters, digits,
  // '.', '_' and '-' in levels separated by single '/'.
  for (char c : root) {
    const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!word && c != '.' && c != '_' && c != '-' && c != '/') return false;
  }
  return root.front() != '.';
}

std::optional<DeviceTopic> parseDeviceTopic(const std::string& root, const std::string& topic) {
  const std::string prefix = root + kDevicesLevel;
  if (topic.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  const std::size_t id_end = topic.find('/', prefix.size());
  if (id_end == std::string::npos) return std::nullopt;
  std::string id = topic.substr(prefix.size(), id_end - prefix.size());
  if (!isValidDeviceId(id)) return std::nullopt;
  const std::string leaf = topic.substr(id_end + 1);
  for (const LeafName& entry : kLeaves) {
    if (leaf == entry.leaf) return DeviceTopic{std::move(id), entry.channel};
  }
  return std::nullopt;
}

Topics::Topics(std::string root, std::string device_id)
    : root_(std::move(root)), device_id_(std::move(device_id)) {}

std::string Topics::of(Channel channel) const {
  return root_ + kDevicesLevel + device_id_ + "/" + channelLeaf(channel);
}

}  // namespace fleet
