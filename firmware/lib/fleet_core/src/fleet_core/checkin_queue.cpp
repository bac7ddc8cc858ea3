#include "fleet_core/checkin_queue.h"

#include <algorithm>
#include <utility>

#include "fleet_core/boot_counter.h"
#include "fleet_core/identifiers.h"
#include "fleet_core/storage_keys.h"

namespace fleet {
namespace {

constexpr char kFormat = 1;
constexpr std::size_t kMacBytes = 6;

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// aa:bb:cc:dd:ee:ff → 6 bytes ("" when absent or malformed).
std::string macBytes(const std::string& mac) {
  if (!isValidMac(mac)) return std::string();
  std::string bytes;
  for (std::size_t i = 0; i < mac.size(); i += 3) {
    bytes.push_back(static_cast<char>(hexValue(mac[i]) * 16 + hexValue(mac[i + 1])));
  }
  return bytes;
}

}  // namespace

std::string encodeQueuedCheckin(const QueuedCheckin& entry) {
  std::string blob(1, kFormat);
  blob += encodeU32(entry.seq);
  blob += encodeU32(entry.session_id);
  blob += encodeU32(entry.uptime_ms);
  const std::string mac = macBytes(entry.station_mac);
  blob.push_back(static_cast<char>(mac.size()));
  blob += mac;
  blob.push_back(static_cast<char>(entry.student_id.size()));
  blob += entry.student_id;
  return blob;
}

std::optional<QueuedCheckin> decodeQueuedCheckin(const std::string& blob) {
  constexpr std::size_t kFixed = 1 + 4 + 4 + 4 + 1;
  if (blob.size() < kFixed + 1 || blob[0] != kFormat) return std::nullopt;
  QueuedCheckin entry;
  entry.seq = decodeU32(blob.substr(1, 4)).value_or(0);
  entry.session_id = decodeU32(blob.substr(5, 4)).value_or(0);
  entry.uptime_ms = decodeU32(blob.substr(9, 4)).value_or(0);
  const auto mac_len = static_cast<std::size_t>(static_cast<std::uint8_t>(blob[13]));
  if (mac_len != 0 && mac_len != kMacBytes) return std::nullopt;
  std::size_t pos = kFixed;
  if (blob.size() < pos + mac_len + 1) return std::nullopt;
  if (mac_len == kMacBytes) {
    std::uint8_t mac[kMacBytes];
    for (std::size_t i = 0; i < kMacBytes; ++i) mac[i] = static_cast<std::uint8_t>(blob[pos + i]);
    entry.station_mac = formatMac(mac);
  }
  pos += mac_len;
  const auto id_len = static_cast<std::size_t>(static_cast<std::uint8_t>(blob[pos]));
  ++pos;
  if (blob.size() != pos + id_len) return std::nullopt;
  entry.student_id = blob.substr(pos, id_len);
  if (entry.seq == 0 || entry.session_id == 0 || !isValidStudentId(entry.student_id)) {
    return std::nullopt;
  }
  return entry;
}

CheckinQueue::CheckinQueue(Storage& storage, std::size_t capacity)
    : storage_(storage), capacity_(std::max<std::size_t>(1, std::min(capacity, kQueueCapacity))) {}

std::size_t CheckinQueue::load() {
  entries_.clear();
  std::uint32_t next = loadU32(storage_, keys::kNextSeq).value_or(1);
  for (std::size_t slot = 0; slot < capacity_; ++slot) {
    const std::string key = keys::queueSlot(slot);
    std::string blob;
    if (!storage_.get(key, blob)) continue;
    std::optional<QueuedCheckin> entry = decodeQueuedCheckin(blob);
    if (!entry || entry->seq % capacity_ != slot) {
      storage_.remove(key);
      continue;
    }
    next = std::max(next, entry->seq + 1);
    entries_.push_back(std::move(*entry));
  }
  std::sort(entries_.begin(), entries_.end(),
            [](const QueuedCheckin& a, const QueuedCheckin& b) { return a.seq < b.seq; });
  // A run longer than the capacity cannot be stored: keep the newest that fit.
  while (!entries_.empty() && entries_.back().seq - entries_.front().seq >= capacity_) {
    storage_.remove(keys::queueSlot(entries_.front().seq % capacity_));
    entries_.pop_front();
  }
  next_seq_ = std::max<std::uint32_t>(next, 1);
  return entries_.size();
}

PushResult CheckinQueue::push(std::uint32_t session_id, const std::string& student_id,
                              const std::string& station_mac, std::uint32_t uptime_ms,
                              std::uint32_t* seq) {
  if (full()) return PushResult::kFull;
  if (next_seq_ == 0) return PushResult::kStorageError;  // 2^32 check-ins: seq space spent
  QueuedCheckin entry;
  entry.seq = next_seq_;
  entry.session_id = session_id;
  entry.student_id = student_id;
  entry.station_mac = isValidMac(station_mac) ? station_mac : std::string();
  std::transform(
      entry.station_mac.begin(), entry.station_mac.end(), entry.station_mac.begin(),
      [](char c) { return (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c; });
  entry.uptime_ms = uptime_ms;
  // The counter first: a crash between the writes skips a seq, never reuses one.
  if (!storeU32(storage_, keys::kNextSeq, entry.seq + 1)) return PushResult::kStorageError;
  ++next_seq_;
  if (!storage_.put(keys::queueSlot(entry.seq % capacity_), encodeQueuedCheckin(entry))) {
    return PushResult::kStorageError;
  }
  if (seq != nullptr) *seq = entry.seq;
  entries_.push_back(std::move(entry));
  return PushResult::kOk;
}

std::size_t CheckinQueue::dropUpto(std::uint32_t upto) {
  std::size_t dropped = 0;
  while (!entries_.empty() && entries_.front().seq <= upto) {
    storage_.remove(keys::queueSlot(entries_.front().seq % capacity_));
    entries_.pop_front();
    ++dropped;
  }
  return dropped;
}

}  // namespace fleet
