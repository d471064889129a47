// A resume follows its checkpoint's learning-rate schedule: what counts as a change of it (io/checkpoint/resume).
#include <gtest/gtest.h>

#include <string>

#include "io/checkpoint/resume.hpp"

namespace tessera {
namespace {

TrainConfig twenty_steps() {
  TrainConfig t;
  t.steps = 20;
  t.warmup_steps = 2;
  return t;
}

TEST(ResumeSchedule, TheSameScheduleIsNoDifference) {
  EXPECT_EQ(schedule_difference(twenty_steps(), twenty_steps(), "ckpt"), "");
  TrainConfig other = twenty_steps();
  other.micro_batch = 3;  // not a schedule key
  other.seed = 7;
  EXPECT_EQ(schedule_difference(other, twenty_steps(), "ckpt"), "");
}

TEST(ResumeSchedule, MoreStepsChangeTheDecayUnlessDecayStepsIsSet) {
  TrainConfig longer = twenty_steps();
  longer.steps = 40;
  EXPECT_EQ(schedule_difference(longer, twenty_steps(), "ckpt"),
            "train.steps = 40 here, 20 in ckpt (the decay ends at train.steps: train.decay_steps = 0)");
  // a run planned for extension: its decay does not follow train.steps
  TrainConfig planned = twenty_steps();
  planned.decay_steps = 100;
  TrainConfig extended = planned;
  extended.steps = 40;
  EXPECT_EQ(schedule_difference(extended, planned, "ckpt"), "");
  // decay_steps set now where the checkpoint's decay ended at its train.steps, at another step
  EXPECT_EQ(schedule_difference(planned, twenty_steps(), "ckpt"),
            "the decay ends at step 100 here, at step 20 in ckpt (train.decay_steps = 100 here, 0 there)");
  // ... or at the same one: the same schedule
  TrainConfig same_end = twenty_steps();
  same_end.decay_steps = 20;
  EXPECT_EQ(schedule_difference(same_end, twenty_steps(), "ckpt"), "");
}

TEST(ResumeSchedule, EveryScheduleKeyIsNamedWithBothValues) {
  TrainConfig changed = twenty_steps();
  changed.lr = 1e-3F;
  changed.min_lr = 0;
  changed.warmup_steps = 5;
  changed.lr_decay = "linear";
  const std::string why = schedule_difference(changed, twenty_steps(), "ckpt");
  EXPECT_NE(why.find("train.lr = 0.001 here, 0.0006 in ckpt"), std::string::npos) << why;
  EXPECT_NE(why.find("train.min_lr = 0 here, 6e-05 in ckpt"), std::string::npos) << why;
  EXPECT_NE(why.find("train.warmup_steps = 5 here, 2 in ckpt"), std::string::npos) << why;
  EXPECT_NE(why.find("train.lr_decay = linear here, cosine in ckpt"), std::string::npos) << why;
}

}  // namespace
}  // namespace tessera
