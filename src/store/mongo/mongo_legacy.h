// Cache entries of every age (docs/UPSTREAM-FORMATS.md section 7): the current API module
// writes `timestamp` (float seconds); legacy entries have `datetime` instead,
// an ISO 8601 string (or, written by pymongo from a datetime, a BSON date),
// and no `name`, and `typtag` for `typetag` (read in mongo_entries.cpp).
// Their upload time is that `datetime`, for display and for --since/--until.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string_view>

#include "store/mongo/mongo_bson.h"

namespace cybexp::mongo {

// "2020-04-28T03:29:23.177000", with ' ' for 'T', optional fraction, and an
// optional "Z" or "+HH:MM"/"-HH:MM"; without an offset the time is UTC (as
// upstream stored utcnow()). nullopt for anything else.
std::optional<double> iso_datetime_seconds(std::string_view s);

// The entry's upload time: timestamp, else datetime; 0 when neither is there.
double entry_upload_seconds(const bson_t* entry);

// One condition for since <= upload time < until, over both fields:
// {$or: [{timestamp: R}, {timestamp: {$exists: false}, datetime: R as ISO
// strings}, {timestamp: {$exists: false}, datetime: R as dates}]}.
Doc upload_time_range(std::optional<double> since, std::optional<double> until);

}  // namespace cybexp::mongo
