// What libmongoc may print before any MongoDB store is opened.
//
// libmongoc initialises itself from a library constructor, before main and
// whatever the configured store (Debian builds it with automatic init). Its
// only soft failure there is its statistics counters: when a killed
// process with the same pid left /dev/shm/mongoc-PID behind, it prints
// "Falling back to malloc for counters." on stderr with its own handler,
// a bare line that breaks --log-format json. The executable calls
// quiet_library_log_before_main() from its .preinit_array (run before every
// library's constructor) to drop such messages; opening a Pool installs
// the handler that routes libmongoc's warnings into our log.
//
// Thread safety: called once, before main, on the only thread.
#pragma once

namespace cybexp::mongo {

void quiet_library_log_before_main();

}  // namespace cybexp::mongo
