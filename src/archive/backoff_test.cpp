#include <gtest/gtest.h>

#include "cybexp/archiver.h"

namespace cybexp {
namespace {

class FixedRandom : public RandomSource {
 public:
  explicit FixedRandom(int v) : v_(v) {}
  int randint(int lo, int hi) override {
    EXPECT_EQ(lo, 0);
    EXPECT_EQ(hi, 1000);
    return v_;
  }

 private:
  int v_;
};

TEST(Backoff, FollowsUpstreamFormula) {
  FixedRandom r500(500), r0(0), r1000(1000);
  EXPECT_DOUBLE_EQ(backoff_seconds(0, r500), 1.5);
  EXPECT_DOUBLE_EQ(backoff_seconds(1, r0), 2.0);
  EXPECT_DOUBLE_EQ(backoff_seconds(3, r0), 8.0);
  EXPECT_DOUBLE_EQ(backoff_seconds(3, r1000), 9.0);
  EXPECT_DOUBLE_EQ(backoff_seconds(11, r1000), 2049.0);
  EXPECT_DOUBLE_EQ(backoff_seconds(12, r0), 3600.0);  // 4096 capped
  EXPECT_DOUBLE_EQ(backoff_seconds(1000, r500), 3600.0);
}

TEST(Backoff, SystemRandomStaysInRange) {
  for (int i = 0; i < 1000; ++i) {
    double s = backoff_seconds(2, system_random());
    EXPECT_GE(s, 4.0);
    EXPECT_LE(s, 5.0);
  }
}

}  // namespace
}  // namespace cybexp
