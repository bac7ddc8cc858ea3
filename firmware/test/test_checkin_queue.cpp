#include <gtest/gtest.h>

#include "fakes.h"
#include "fleet_core/checkin_queue.h"
#include "fleet_core/storage_keys.h"

using fleet::CheckinQueue;
using fleet::PushResult;

TEST(CheckinQueue, SeqRisesFromOne) {
  fakes::MemoryStorage flash;
  CheckinQueue queue(flash);
  queue.load();
  std::uint32_t seq = 0;
  ASSERT_EQ(queue.push(42, "U2021/0001", "aa:bb:cc:dd:ee:ff", 100, &seq), PushResult::kOk);
  EXPECT_EQ(seq, 1u);
  ASSERT_EQ(queue.push(42, "U2021/0002", "", 200, &seq), PushResult::kOk);
  EXPECT_EQ(seq, 2u);
  EXPECT_EQ(queue.size(), 2u);
  EXPECT_TRUE(flash.bad_keys.empty());
}

TEST(CheckinQueue, SurvivesAReboot) {
  fakes::MemoryStorage flash;
  {
    CheckinQueue queue(flash);
    queue.load();
    queue.push(42, "U2021/0001", "AA:BB:CC:DD:EE:FF", 100);
    queue.push(42, "U2021/0002", "", 200);
    queue.push(43, "U2021/0003", "", 300);
  }
  CheckinQueue rebooted(flash);
  EXPECT_EQ(rebooted.load(), 3u);
  const auto& e = rebooted.entries();
  EXPECT_EQ(e[0].seq, 1u);
  EXPECT_EQ(e[0].session_id, 42u);
  EXPECT_EQ(e[0].student_id, "U2021/0001");
  EXPECT_EQ(e[0].station_mac, "aa:bb:cc:dd:ee:ff");
  EXPECT_EQ(e[0].uptime_ms, 100u);
  EXPECT_EQ(e[1].station_mac, "");
  EXPECT_EQ(e[2].session_id, 43u);
  std::uint32_t seq = 0;
  rebooted.push(43, "U2021/0004", "", 0, &seq);
  EXPECT_EQ(seq, 4u);
}

TEST(CheckinQueue, SeqKeepsRisingAfterEverythingWasAcked) {
  fakes::MemoryStorage flash;
  {
    CheckinQueue queue(flash);
    queue.load();
    queue.push(42, "A1", "", 0);
    queue.push(42, "A2", "", 0);
    EXPECT_EQ(queue.dropUpto(2), 2u);
    EXPECT_TRUE(queue.empty());
  }
  CheckinQueue rebooted(flash);
  EXPECT_EQ(rebooted.load(), 0u);
  std::uint32_t seq = 0;
  rebooted.push(42, "A3", "", 0, &seq);
  EXPECT_EQ(seq, 3u);
}

TEST(CheckinQueue, AckDropsOnlyUpToSeqAndErasesTheirSlots) {
  fakes::MemoryStorage flash;
  CheckinQueue queue(flash);
  queue.load();
  for (int i = 0; i < 5; ++i) queue.push(42, "S" + std::to_string(i), "", 0);
  EXPECT_EQ(queue.dropUpto(0), 0u);
  EXPECT_EQ(queue.dropUpto(3), 3u);
  EXPECT_EQ(queue.entries().front().seq, 4u);
  EXPECT_EQ(queue.dropUpto(3), 0u);  // a repeated ack changes nothing
  EXPECT_EQ(flash.data.count(fleet::keys::queueSlot(1)), 0u);
  EXPECT_EQ(flash.data.count(fleet::keys::queueSlot(4)), 1u);
  CheckinQueue rebooted(flash);
  EXPECT_EQ(rebooted.load(), 2u);
}

TEST(CheckinQueue, IsBoundedAndRefusesWhenFull) {
  fakes::MemoryStorage flash;
  CheckinQueue queue(flash, 4);
  queue.load();
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(queue.push(1, "S" + std::to_string(i), "", 0), PushResult::kOk);
  EXPECT_TRUE(queue.full());
  EXPECT_EQ(queue.push(1, "S9", "", 0), PushResult::kFull);
  queue.dropUpto(2);
  EXPECT_EQ(queue.push(1, "S9", "", 0), PushResult::kOk);  // seq 5 reuses slot 1
  CheckinQueue rebooted(flash, 4);
  EXPECT_EQ(rebooted.load(), 3u);
  EXPECT_EQ(rebooted.entries().back().seq, 5u);
  EXPECT_EQ(rebooted.entries().back().student_id, "S9");
}

TEST(CheckinQueue, DefaultCapacityIs256) {
  fakes::MemoryStorage flash;
  CheckinQueue queue(flash);
  EXPECT_EQ(queue.capacity(), 256u);
}

TEST(CheckinQueue, StorageFailureIsReported) {
  fakes::MemoryStorage flash;
  CheckinQueue queue(flash);
  queue.load();
  flash.fail_writes = true;
  EXPECT_EQ(queue.push(1, "S1", "", 0), PushResult::kStorageError);
  EXPECT_TRUE(queue.empty());
}

TEST(CheckinQueue, CorruptSlotsAreErasedOnLoad) {
  fakes::MemoryStorage flash;
  flash.data["q001"] = "garbage";
  fleet::QueuedCheckin misplaced;
  misplaced.seq = 7;
  misplaced.session_id = 1;
  misplaced.student_id = "S7";
  flash.data["q002"] = fleet::encodeQueuedCheckin(misplaced);  // seq 7 belongs in q007
  CheckinQueue queue(flash);
  EXPECT_EQ(queue.load(), 0u);
  EXPECT_EQ(flash.data.count("q001"), 0u);
  EXPECT_EQ(flash.data.count("q002"), 0u);
}

TEST(CheckinQueue, RecordRoundTrip) {
  fleet::QueuedCheckin entry;
  entry.seq = 4294967295u;
  entry.session_id = 42;
  entry.student_id = std::string(32, 'x');
  entry.station_mac = "01:23:45:67:89:ab";
  entry.uptime_ms = 912345;
  const auto back = fleet::decodeQueuedCheckin(fleet::encodeQueuedCheckin(entry));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->seq, entry.seq);
  EXPECT_EQ(back->student_id, entry.student_id);
  EXPECT_EQ(back->station_mac, entry.station_mac);
  EXPECT_EQ(back->uptime_ms, entry.uptime_ms);
  EXPECT_LE(fleet::encodeQueuedCheckin(entry).size(), 53u);  // small NVS blobs
}
