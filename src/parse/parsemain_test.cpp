#include "cybexp/parsemain.h"

#include <gtest/gtest.h>

#include "cybexp/store.h"

namespace cybexp {
namespace {

const std::map<std::string, std::string>& registry() { return default_subtypes(); }

TEST(Parsemain, JsonPayloadBecomesRawDocument) {
  ParseOutcome out = parsemain(registry(), "unr-honeypot", "org-1", "US/Pacific",
                               R"({"host": {"os": {"name": "Ubuntu", "version": 18.04}, "id": 7}, "tags": ["a", "b"]})",
                               Limits{});
  ASSERT_EQ(out.state, ParseState::kSuccess) << out.reason;
  EXPECT_EQ(out.document.sub_type, "unr_honeypot");
  EXPECT_EQ(out.document.hash, "1ca40a1cbb87265f4b3c0356d4df12700e16b9ece88bafe2585361389658f591");
  EXPECT_EQ(out.document.orgid, "org-1");
  EXPECT_EQ(out.document.timezone, "US/Pacific");
  EXPECT_EQ(out.document.data_json,
            R"({"host": {"os": {"name": "Ubuntu", "version": 18.04}, "id": 7}, "tags": ["a", "b"]})");
}

TEST(Parsemain, TextPayloadIsKeptUnderData) {
  ParseOutcome out = parsemain(registry(), "unr-honeypot", "o", "UTC", "{\"a\": 1}\n{\"b\": 2}\n", Limits{});
  ASSERT_EQ(out.state, ParseState::kSuccess) << out.reason;
  EXPECT_EQ(out.document.data_json, R"({"data": "{\"a\": 1}\n{\"b\": 2}\n"})");
  // The json_lines interoperability vector.
  EXPECT_EQ(out.document.hash, "ffc3dd6b6306b004257356af2d39a806eb0972329901ea937a4df2233b2f5a58");
}

TEST(Parsemain, EmptyPayloadIsEmptyText) {
  ParseOutcome out = parsemain(registry(), "email", "o", "UTC", "", Limits{});
  ASSERT_EQ(out.state, ParseState::kSuccess) << out.reason;
  EXPECT_EQ(out.document.sub_type, "email");
  EXPECT_EQ(out.document.data_json, R"({"data": ""})");
}

TEST(Parsemain, UnknownTypetagIsNotSupportedWithAdvice) {
  ParseOutcome out = parsemain(registry(), "no-such-feed", "o", "UTC", "{}", Limits{});
  EXPECT_EQ(out.state, ParseState::kNotSupported);
  EXPECT_EQ(out.reason,
            "typetag \"no-such-feed\" not in the sub-type registry: add it with 'cybexp-archive "
            "subtypes add no-such-feed SUB_TYPE', then 'requeue --state typetag_not_supported'");
}

// Found by fuzz_archive_one: a hostile typetag went raw into the suggested
// command, putting a newline (or a terminal escape) into the stored reason.
TEST(Parsemain, HostileTypetagIsQuotedInAdvice) {
  ParseOutcome out = parsemain(registry(), "feed\n\x1b[2Jx", "o", "UTC", "{}", Limits{});
  EXPECT_EQ(out.state, ParseState::kNotSupported);
  EXPECT_EQ(out.reason,
            "typetag \"feed\\n\\u001b[2Jx\" not in the sub-type registry: add it with "
            "'cybexp-archive subtypes add \"feed\\n\\u001b[2Jx\" SUB_TYPE', then 'requeue --state "
            "typetag_not_supported'");
}

TEST(Parsemain, BadSubTypeInRegistryIsAnError) {
  std::map<std::string, std::string> reg = {{"x", "not an identifier"}};
  ParseOutcome out = parsemain(reg, "x", "o", "UTC", "{}", Limits{});
  EXPECT_EQ(out.state, ParseState::kError);
  EXPECT_EQ(out.reason,
            "sub type \"not an identifier\" registered for this typetag is not an identifier: fix it "
            "with 'cybexp-archive subtypes add x SUB_TYPE', then 'requeue --state error'");
}

TEST(Parsemain, LoneSurrogateIsAnError) {
  ParseOutcome out = parsemain(registry(), "unr-honeypot", "o", "UTC", R"({"a": "\ud800"})", Limits{});
  EXPECT_EQ(out.state, ParseState::kError);
  EXPECT_NE(out.reason.find("lone UTF-16 surrogate"), std::string::npos) << out.reason;
}

TEST(Parsemain, NestingBeyondDepthLimitIsAnError) {
  Limits limits;
  limits.max_depth = 4;
  ParseOutcome ok = parsemain(registry(), "unr-honeypot", "o", "UTC", "[[[[1]]]]", limits);
  EXPECT_EQ(ok.state, ParseState::kSuccess) << ok.reason;
  ParseOutcome deep = parsemain(registry(), "unr-honeypot", "o", "UTC", "[[[[[1]]]]]", limits);
  EXPECT_EQ(deep.state, ParseState::kError);
  EXPECT_EQ(deep.reason,
            "payload JSON is nested deeper than 4 levels (limits.max_depth), at byte 5: raise the "
            "limit if the feed is genuine, then 'requeue --state error'");
}

TEST(Parsemain, CanonicalSizeLimitIsCheckedBeforeBuilding) {
  std::string deep = std::string(40, '[') + "\"x\"" + std::string(40, ']');
  ParseOutcome out = parsemain(registry(), "unr-honeypot", "o", "UTC", deep, Limits{});
  EXPECT_EQ(out.state, ParseState::kError);
  EXPECT_NE(out.reason.find("limits.max_canonical_bytes"), std::string::npos) << out.reason;

  // The payload-size multiple raises the limit for big payloads.
  Limits tight;
  tight.max_canonical_bytes = 10;
  tight.canonical_payload_factor = 0;
  EXPECT_EQ(parsemain(registry(), "email", "o", "UTC", "\"0123456789\"", tight).state,
            ParseState::kError);
  tight.canonical_payload_factor = 8;
  EXPECT_EQ(parsemain(registry(), "email", "o", "UTC", "\"0123456789\"", tight).state,
            ParseState::kSuccess);
}

}  // namespace
}  // namespace cybexp
