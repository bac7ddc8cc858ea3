#include <gtest/gtest.h>

#include "fakes.h"
#include "fleet_core/boot_counter.h"
#include "fleet_core/seen_students.h"

TEST(BootCounter, RisesAtEachBootAndIsStored) {
  fakes::MemoryStorage flash;
  EXPECT_EQ(fleet::raiseBootCounter(flash), 1u);
  EXPECT_EQ(fleet::raiseBootCounter(flash), 2u);
  EXPECT_EQ(fleet::raiseBootCounter(flash), 3u);
  EXPECT_EQ(fleet::loadU32(flash, "boot"), 3u);
}

TEST(BootCounter, U32Encoding) {
  EXPECT_EQ(fleet::decodeU32(fleet::encodeU32(0xdeadbeef)), 0xdeadbeefu);
  EXPECT_FALSE(fleet::decodeU32("abc"));
}

TEST(SeenStudents, RemembersPerSession) {
  fleet::SeenStudents seen;
  seen.reset(42);
  EXPECT_FALSE(seen.contains("U2021/0042"));
  EXPECT_TRUE(seen.insert("U2021/0042"));
  EXPECT_TRUE(seen.contains("U2021/0042"));
  EXPECT_FALSE(seen.contains("u2021/0042"));
  seen.reset(43);
  EXPECT_FALSE(seen.contains("U2021/0042"));
}

TEST(SeenStudents, IsBounded) {
  fleet::SeenStudents seen(3);
  seen.reset(1);
  EXPECT_TRUE(seen.insert("a1"));
  EXPECT_TRUE(seen.insert("a2"));
  EXPECT_TRUE(seen.insert("a3"));
  EXPECT_FALSE(seen.insert("a4"));
  EXPECT_TRUE(seen.insert("a2"));  // already there
  EXPECT_EQ(seen.size(), 3u);
}
