#include <gtest/gtest.h>

#include "fakes.h"
#include "fleet_core/attendance_batch.h"
#include "fleet_core/limits.h"
#include "fleet_core/messages.h"

namespace {

const std::string kId = "esp32-a1b2c3d4e5f6";

std::deque<fleet::QueuedCheckin> queueOf(std::size_t n, std::uint32_t session, std::size_t id_len,
                                         std::uint32_t first_seq = 1) {
  std::deque<fleet::QueuedCheckin> entries;
  for (std::size_t i = 0; i < n; ++i) {
    fleet::QueuedCheckin e;
    e.seq = first_seq + static_cast<std::uint32_t>(i);
    e.session_id = session;
    std::string id = "U" + std::to_string(i);
    id += std::string(id_len > id.size() ? id_len - id.size() : 0, '0');
    e.student_id = id;
    e.station_mac = "aa:bb:cc:dd:ee:ff";
    e.uptime_ms = 4294967295u;
    entries.push_back(e);
  }
  return entries;
}

}  // namespace

TEST(AttendanceBatch, EveryBatchIsAValidMessageUnder1024Bytes) {
  const auto entries = queueOf(100, 42, fleet::kMaxStudentIdLen);
  std::size_t from = 0;
  std::uint32_t expected_seq = 1;
  int batches = 0;
  while (const auto batch = fleet::buildBatch(kId, entries, from)) {
    EXPECT_LE(batch->payload.size(), fleet::kMaxPayloadBytes);
    EXPECT_LE(batch->count, fleet::kMaxEventsPerBatch);
    EXPECT_GE(batch->count, 1u);
    const auto msg =
        fleet::decodeAttendance(fakes::bytes(batch->payload), batch->payload.size(), &kId);
    ASSERT_TRUE(msg.ok()) << msg.error().describe();
    for (const auto& event : msg.value().events) EXPECT_EQ(event.seq, expected_seq++);
    EXPECT_EQ(batch->last_seq, expected_seq - 1);
    from += batch->count;
    ++batches;
  }
  EXPECT_EQ(expected_seq, 101u);
  EXPECT_GT(batches, 100 / 32);  // the size limit, not only the 32-event one, splits them
}

TEST(AttendanceBatch, BatchIsAsFullAsTheSizeLimitAllows) {
  // Even the shortest events the device makes (seq, student_id, uptime_ms) are ~40 bytes, so
  // the 1024-byte limit, not the 32-event one, is what closes a batch.
  auto entries = queueOf(40, 42, 1);
  for (auto& e : entries) {
    e.station_mac = "";
    e.uptime_ms = 0;
  }
  const auto batch = fleet::buildBatch(kId, entries, 0);
  ASSERT_TRUE(batch);
  EXPECT_LE(batch->count, fleet::kMaxEventsPerBatch);
  EXPECT_LE(batch->payload.size(), fleet::kMaxPayloadBytes);
  // One more event would not fit.
  fleet::AttendanceMsg bigger;
  bigger.session_id = 42;
  for (std::size_t i = 0; i <= batch->count; ++i) {
    fleet::CheckinEvent e;
    e.seq = entries[i].seq;
    e.student_id = entries[i].student_id;
    e.uptime_ms = 0;
    bigger.events.push_back(e);
  }
  EXPECT_EQ(fleet::encodeAttendance(kId, bigger), "");
}

TEST(AttendanceBatch, OneSessionPerBatch) {
  auto entries = queueOf(3, 41, 4);
  for (const auto& e : queueOf(2, 42, 4, 4)) entries.push_back(e);
  const auto first = fleet::buildBatch(kId, entries, 0);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->session_id, 41u);
  EXPECT_EQ(first->count, 3u);
  const auto second = fleet::buildBatch(kId, entries, 3);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->session_id, 42u);
  EXPECT_EQ(second->first_seq, 4u);
  EXPECT_FALSE(fleet::buildBatch(kId, entries, 5));
}

TEST(AttendanceBatch, OmitsUnknownStationMac) {
  auto entries = queueOf(1, 42, 4);
  entries[0].station_mac = "";
  const auto batch = fleet::buildBatch(kId, entries, 0);
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->payload.find("station_mac"), std::string::npos);
}
