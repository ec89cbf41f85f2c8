#include "cybexp/store.h"

namespace cybexp {

// docs/UPSTREAM-FORMATS.md section 4: upstream's registry holds unr-honeypot; the analytics
// module also consumes these sub types, each under a typetag of its own name.
const std::map<std::string, std::string>& default_subtypes() {
  static const std::map<std::string, std::string> kDefaults = {
      {"unr-honeypot", "unr_honeypot"}, {"cowrie", "cowrie"},
      {"email", "email"},               {"openphish_feed", "openphish_feed"},
      {"phishtank_feed", "phishtank_feed"}, {"sighting", "sighting"},
  };
  return kDefaults;
}

}  // namespace cybexp
