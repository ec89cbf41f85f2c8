// Tests of the shared CLI formatters (format.h).
#include "cli/format.h"

#include <gtest/gtest.h>

namespace cybexp::cli {
namespace {

TEST(JsonStr, WritesAsJsonDumpsAndKeepsBytesThatAreNotUtf8AsSurrogateEscapes) {
  EXPECT_EQ(json_str(""), "\"\"");
  EXPECT_EQ(json_str("a\"b\\\x1b\x7f caf\xc3\xa9"), "\"a\\\"b\\\\\\u001b\\u007f caf\\u00e9\"");
  // Python: json.dumps(b"no-feed\x9b31m".decode("utf-8", "surrogateescape"))
  EXPECT_EQ(json_str("no-feed\x9b" "31m"), "\"no-feed\\udc9b31m\"");
  EXPECT_EQ(json_str("\xff\xc3\xa9\xc3"), "\"\\udcff\\u00e9\\udcc3\"");
}

TEST(RedactedUrl, HidesThePasswordOfTheUserInfo) {
  EXPECT_EQ(redacted_url("postgresql://cybexp:s3cret@db.example:5432/archive"),
            "postgresql://cybexp:***@db.example:5432/archive");
  EXPECT_EQ(redacted_url("mongodb://admin:p%40ss@m1:27017,m2:27017/cache_db?replicaSet=rs0"),
            "mongodb://admin:***@m1:27017,m2:27017/cache_db?replicaSet=rs0");
  // An '@' left unencoded in the password does not leave its tail shown.
  EXPECT_EQ(redacted_url("postgresql://u:p@ss@db/archive"), "postgresql://u:***@db/archive");
}

TEST(RedactedUrl, HidesAPasswordParameter) {
  EXPECT_EQ(redacted_url("postgresql://db/archive?user=a&password=s3cret&sslmode=require"),
            "postgresql://db/archive?user=a&password=***&sslmode=require");
  EXPECT_EQ(redacted_url("postgresql://db/archive?password=s3cret"),
            "postgresql://db/archive?password=***");
  EXPECT_EQ(redacted_url("host=db password=s3cret dbname=archive"),
            "host=db password=*** dbname=archive");
  // Every occurrence, not only the first.
  EXPECT_EQ(redacted_url("postgresql://db/a?password=one&x=1&password=two"),
            "postgresql://db/a?password=***&x=1&password=***");
}

TEST(RedactedUrl, KeepsUrlsWithoutPasswords) {
  EXPECT_EQ(redacted_url("sqlite:///var/lib/cybexp/archive.db"), "sqlite:///var/lib/cybexp/archive.db");
  EXPECT_EQ(redacted_url("postgresql://cybexp@db:5432/archive"), "postgresql://cybexp@db:5432/archive");
  // A colon after the @ is the port, not a password.
  EXPECT_EQ(redacted_url("postgresql://db:5432/a@b"), "postgresql://db:5432/a@b");
}

TEST(JsonFormat, WritesAsPythonDoes) {
  EXPECT_EQ(json_str("a\"b\n\u00e9"), "\"a\\\"b\\n\\u00e9\"");
  EXPECT_EQ(number(1.0), "1.0");
  EXPECT_EQ(utc(0), "-");
  EXPECT_EQ(utc(1764435600), "2025-11-29T17:00:00Z");
}

}  // namespace
}  // namespace cybexp::cli
