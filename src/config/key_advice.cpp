// Where cybexp-archive looks for the private key, and where else it looked
// when the key is not there. Upstream read priv.pem from its working
// directory (its unit's WorkingDirectory=) and ignored cache.private_key; we
// keep our rule (the configured path, or priv.pem beside the configuration)
// and turn an upstream layout into a one-line fix.
#include "cybexp/config.h"

namespace cybexp {

namespace fs = std::filesystem;

std::string private_key_advice(const Config& config, const fs::path& missing, const fs::path& cwd) {
  std::string why;
  if (config.private_key_configured) {
    why = "cache.private_key names it";
  } else if (config.shape == ConfigShape::kHome) {
    why = "the key pair lives in $CYBEXP_HOME without -c";
  } else {
    why = "cache.private_key is not set, so it is priv.pem beside the configuration";
  }
  const fs::path upstream = (cwd / "priv.pem").lexically_normal();
  std::error_code ec;
  if (upstream != missing && fs::is_regular_file(upstream, ec)) {
    return why + "; found priv.pem in the working directory " + cwd.string() +
           ", where upstream reads it: set cache.private_key to \"" + upstream.string() +
           "\" (or move the key beside the configuration, mode 0600)";
  }
  return why + "; also looked for priv.pem in the working directory " + cwd.string() +
         " (where upstream reads it): not there either. Create a key pair with 'cybexp-archive "
         "keygen', or "
         "set cache.private_key to the key whose public half the API module encrypts with";
}

}  // namespace cybexp
