// A PostgreSQL server's notices (RAISE NOTICE, WARNING) reach stderr only
// through our log: one line each, escaped, JSON with --log-format json;
// libpq's own printing of them would be raw text.
#include <gtest/gtest.h>

#include "store/postgres/pg_test_fixture.h"
#include "util/log.h"

namespace cybexp::pg {
namespace {

std::string notices_of(const std::string& url, LogFormat format) {
  Connection conn(url);
  EXPECT_TRUE(conn.ensure().has_value());
  log_configure(LogLevel::kInfo, format);
  ::testing::internal::CaptureStderr();
  auto r = conn.run("notice", R"(DO $$ BEGIN
    RAISE NOTICE 'hello %', E'\x1b[2J\r\nforged';
    RAISE WARNING 'careful';
    RAISE DEBUG 'not shown at info';
  END $$)");
  std::string err = ::testing::internal::GetCapturedStderr();
  log_configure(LogLevel::kInfo, LogFormat::kText);
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return err;
}

TEST_F(PostgresTest, ServerNoticesAreLogLinesInJson) {
  const std::string label = Connection(url_).label();
  EXPECT_EQ(notices_of(url_, LogFormat::kJson),
            "{\"level\": \"info\", \"msg\": \"postgresql server notice\", \"store\": \"" + label +
                "\", \"severity\": \"NOTICE\", \"notice\": \"hello \\u001b[2J forged\"}\n"
                "{\"level\": \"warning\", \"msg\": \"postgresql server notice\", \"store\": \"" +
                label + "\", \"severity\": \"WARNING\", \"notice\": \"careful\"}\n");
}

TEST_F(PostgresTest, ServerNoticesAreEscapedLogLinesInText) {
  const std::string label = Connection(url_).label();
  EXPECT_EQ(notices_of(url_, LogFormat::kText),
            "info: postgresql server notice store=\"" + label +
                "\" severity=NOTICE notice=\"hello \\x1b[2J forged\"\n"
                "warning: postgresql server notice store=\"" +
                label + "\" severity=WARNING notice=careful\n");
}

}  // namespace
}  // namespace cybexp::pg
