// The Raw document line and the sub-type identifier rule.
#include "cybexp/raw_document.h"

#include <gtest/gtest.h>

namespace cybexp {
namespace {

TEST(RawDocument, WrittenAsPythonJsonDumps) {
  RawDocument doc;
  doc.hash = "0e6cde9f145cb0087314dfd2cc79df179d2b8493ddfc721dc3a7fc4d234771f2";
  doc.sub_type = "unr_honeypot";
  doc.orgid = "org \"1\"";
  doc.timezone = "US/Pacific";
  doc.data_json = R"({"data": ""})";
  EXPECT_EQ(
      raw_document_json(doc),
      R"({"itype": "raw", "data": {"data": ""}, "orgid": "org \"1\"", "timezone": "US/Pacific", )"
      R"("sub_type": "unr_honeypot", "_hash": "0e6cde9f145cb0087314dfd2cc79df179d2b8493ddfc721dc3a7fc4d234771f2"})");
  doc.orgid = "\xC3\xA9";
  EXPECT_NE(raw_document_json(doc).find(R"("orgid": "\u00e9")"), std::string::npos);
}

TEST(RawDocument, Identifiers) {
  for (const char* ok : {"a", "_", "unr_honeypot", "A9", "_x_1", "phishtank_feed"})
    EXPECT_TRUE(is_identifier(ok)) << ok;
  for (const char* bad : {"", "9a", "unr-honeypot", "a b", "a.b", "\xC3\xA9", "a\n"})
    EXPECT_FALSE(is_identifier(bad)) << bad;
}

}  // namespace
}  // namespace cybexp
