// storyd's configuration: conf/storyd.toml documents every key.
#ifndef STORYD_DAEMON_CONFIG_H_
#define STORYD_DAEMON_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "core/copy_detector.h"
#include "core/story_index.h"

namespace storyd {

struct StorydConfig {
  int threads = 0;  // 0 = one per core
  size_t max_record_bytes = 1 << 20;
  std::string rules_path;  // empty = built-in rules
  CopyConfig copy;
  StoryConfig story;
};

// Reads a TOML config; unknown keys and out-of-range values are errors that
// name the key, so a typo cannot pass silently.
absl::StatusOr<StorydConfig> LoadConfig(const std::string& path);

// The defaults, as conf/storyd.toml lists them.
StorydConfig DefaultConfig();

// Worker thread count after resolving 0 to the number of cores.
int EffectiveThreads(const StorydConfig& config);

}  // namespace storyd

#endif  // STORYD_DAEMON_CONFIG_H_
