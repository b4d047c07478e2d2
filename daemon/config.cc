#include "daemon/config.h"

#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include <thread>

#include "absl/container/flat_hash_set.h"
#include "core/fingerprint_index.h"
#include "core/strings.h"

namespace storyd {
namespace {

// Checks that a table has only known keys.
absl::Status CheckKeys(const toml::table& table, std::string_view table_name,
                       const absl::flat_hash_set<std::string_view>& known) {
  for (const auto& [key, value] : table) {
    if (!known.contains(key.str())) {
      return absl::InvalidArgumentError(
          StrCat("unknown config key '", table_name, ".", key.str(), "'"));
    }
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status ReadInteger(const toml::table& table, std::string_view table_name,
                         std::string_view key, int64_t min, int64_t max,
                         T* out) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return absl::OkStatus();
  std::optional<int64_t> value = node->value<int64_t>();
  if (!value.has_value() || *value < min || *value > max) {
    return absl::InvalidArgumentError(StrCat("config key '", table_name, ".",
                                             key, "' must be an integer in [",
                                             min, ", ", max, "]"));
  }
  *out = static_cast<T>(*value);
  return absl::OkStatus();
}

absl::Status ReadDouble(const toml::table& table, std::string_view table_name,
                        std::string_view key, double min, double max,
                        double* out) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return absl::OkStatus();
  std::optional<double> value = node->value<double>();
  if (!value.has_value() || *value < min || *value > max) {
    return absl::InvalidArgumentError(StrCat("config key '", table_name, ".",
                                             key, "' must be a number in [",
                                             min, ", ", max, "]"));
  }
  *out = *value;
  return absl::OkStatus();
}

#define STORYD_RETURN_IF_ERROR(expr)   \
  do {                                 \
    absl::Status status_ = (expr);     \
    if (!status_.ok()) return status_; \
  } while (false)

absl::Status ReadString(const toml::table& table, std::string_view table_name,
                        std::string_view key, std::string* out) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return absl::OkStatus();
  std::optional<std::string> value = node->value<std::string>();
  if (!value.has_value()) {
    return absl::InvalidArgumentError(
        StrCat("config key '", table_name, ".", key, "' must be a string"));
  }
  *out = *value;
  return absl::OkStatus();
}

// A librdkafka property table: every value becomes a string, as librdkafka
// takes them ("true", "5000", "SASL_SSL").
absl::Status ReadProperties(const toml::table& table,
                            std::string_view table_name,
                            std::map<std::string, std::string>* out) {
  for (const auto& [key, node] : table) {
    std::string name(key.str());
    if (auto text = node.value<std::string>()) {
      (*out)[name] = *text;
    } else if (auto flag = node.value<bool>();
               flag.has_value() && node.is_boolean()) {
      (*out)[name] = *flag ? "true" : "false";
    } else if (auto number = node.value<int64_t>();
               number.has_value() && node.is_integer()) {
      (*out)[name] = std::to_string(*number);
    } else {
      return absl::InvalidArgumentError(
          StrCat("config key '", table_name, ".", name,
                 "' must be a string, integer or boolean"));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadKafka(const toml::table& table, KafkaConfig* kafka) {
  // storyd's own keys; any other key is a librdkafka property for both
  // clients, and the consumer/producer sub-tables for one of them.
  static const absl::flat_hash_set<std::string_view> kOwn = {
      "input_topic",       "output_topic",  "dead_letter_topic",
      "group_id",          "max_in_flight", "commit_interval_ms",
      "reorder_ms",        "consumer",      "producer",
      "changelog_topic",   "exactly_once",  "instance_id",
      "reorder_backlog_ms"};
  absl::Status status;
  for (const char* key : {"input_topic", "output_topic", "dead_letter_topic",
                          "group_id", "changelog_topic"}) {
    std::string_view name = key;
    std::string* target = name == "input_topic"    ? &kafka->input_topic
                          : name == "output_topic" ? &kafka->output_topic
                          : name == "group_id"     ? &kafka->group_id
                          : name == "changelog_topic"
                              ? &kafka->changelog_topic
                              : &kafka->dead_letter_topic;
    status = ReadString(table, "kafka", key, target);
    if (!status.ok()) return status;
    if (target->empty()) {
      return absl::InvalidArgumentError(
          StrCat("config key 'kafka.", key, "' must not be empty"));
    }
  }
  status = ReadString(table, "kafka", "instance_id", &kafka->instance_id);
  if (!status.ok()) return status;
  if (const toml::node* node = table.get("exactly_once")) {
    if (!node->is_boolean()) {
      return absl::InvalidArgumentError(
          "config key 'kafka.exactly_once' must be true or false");
    }
    kafka->exactly_once = *node->value<bool>();
  }
  status = ReadInteger(table, "kafka", "max_in_flight", 1, int64_t{1} << 24,
                       &kafka->max_in_flight);
  if (status.ok()) {
    status = ReadInteger(table, "kafka", "commit_interval_ms", 10, 3600000,
                         &kafka->commit_interval_ms);
  }
  if (status.ok()) {
    status =
        ReadInteger(table, "kafka", "reorder_ms", 0, 60000, &kafka->reorder_ms);
  }
  if (status.ok()) {
    status = ReadInteger(table, "kafka", "reorder_backlog_ms", 0, 600000,
                         &kafka->reorder_backlog_ms);
  }
  if (!status.ok()) return status;
  for (const auto& [key, node] : table) {
    std::string_view name = key.str();
    if (kOwn.contains(name)) continue;
    toml::table single;
    single.insert(name, node);
    status = ReadProperties(single, "kafka", &kafka->common);
    if (!status.ok()) return status;
  }
  for (const char* sub : {"consumer", "producer"}) {
    const toml::node* node = table.get(sub);
    if (node == nullptr) continue;
    const toml::table* properties = node->as_table();
    if (properties == nullptr) {
      return absl::InvalidArgumentError(
          StrCat("config key 'kafka.", sub, "' must be a table"));
    }
    status =
        ReadProperties(*properties, StrCat("kafka.", sub),
                       std::string_view(sub) == "consumer" ? &kafka->consumer
                                                           : &kafka->producer);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace

StorydConfig DefaultConfig() { return StorydConfig{}; }

int EffectiveThreads(const StorydConfig& config) {
  if (config.threads > 0) return config.threads;
  return std::max(1u, std::thread::hardware_concurrency());
}

absl::StatusOr<StorydConfig> LoadConfig(const std::string& path) {
  toml::parse_result parsed = toml::parse_file(path);
  if (!parsed) {
    const toml::parse_error& error = parsed.error();
    return absl::InvalidArgumentError(
        StrCat(path, ":", error.source().begin.line, ":",
               error.source().begin.column, ": ", error.description()));
  }
  const toml::table& root = parsed.table();
  StorydConfig config = DefaultConfig();
  auto fail = [&](const absl::Status& status) {
    return absl::Status(status.code(),
                        StrCat(path, ": ", std::string(status.message())));
  };
  absl::Status status = CheckKeys(root, "",
                                  {"pipeline", "boilerplate", "copy", "story",
                                   "kafka", "metrics", "state"});
  if (!status.ok()) return fail(status);
  auto section = [&](std::string_view name) -> const toml::table* {
    const toml::node* node = root.get(name);
    return node == nullptr ? nullptr : node->as_table();
  };
  if (const toml::table* t = section("pipeline")) {
    status = CheckKeys(*t, "pipeline", {"threads", "max_record_bytes"});
    if (status.ok())
      status = ReadInteger(*t, "pipeline", "threads", 0, 256, &config.threads);
    if (status.ok()) {
      status = ReadInteger(*t, "pipeline", "max_record_bytes", 1024,
                           int64_t{1} << 30, &config.max_record_bytes);
    }
    if (!status.ok()) return fail(status);
  }
  if (const toml::table* t = section("boilerplate")) {
    status = CheckKeys(*t, "boilerplate",
                       {"rules", "learn", "learn_min_groups",
                        "learn_max_line_words", "learn_max_tracked_lines"});
    if (status.ok()) {
      status = ReadInteger(*t, "boilerplate", "learn_min_groups", 2, 1000000,
                           &config.learner.min_groups);
    }
    if (status.ok()) {
      status = ReadInteger(*t, "boilerplate", "learn_max_line_words", 1, 1000,
                           &config.learner.max_line_words);
    }
    if (status.ok()) {
      status = ReadInteger(*t, "boilerplate", "learn_max_tracked_lines", 1024,
                           int64_t{1} << 30, &config.learner.max_tracked_lines);
    }
    if (status.ok()) {
      if (const toml::node* learn = t->get("learn")) {
        if (!learn->is_boolean()) {
          status = absl::InvalidArgumentError(
              "config key 'boilerplate.learn' must be true or false");
        } else {
          config.learner.enabled = *learn->value<bool>();
        }
      }
    }
    if (!status.ok()) return fail(status);
    if (const toml::node* rules = t->get("rules")) {
      std::optional<std::string> value = rules->value<std::string>();
      if (!value.has_value()) {
        return fail(absl::InvalidArgumentError(
            "config key 'boilerplate.rules' must be a string"));
      }
      config.rules_path = *value;
    }
  }
  if (const toml::table* t = section("copy")) {
    CopyConfig& c = config.copy;
    status =
        CheckKeys(*t, "copy",
                  {"shingle_size", "max_hamming", "min_containment",
                   "min_shared_shingles", "fingerprint_capacity",
                   "window_articles", "window_arena_words", "max_candidates"});
    if (status.ok())
      status = ReadInteger(*t, "copy", "shingle_size", 1, 8, &c.shingle_size);
    if (status.ok())
      status = ReadInteger(*t, "copy", "max_hamming", 0, 7, &c.max_hamming);
    if (status.ok()) {
      status = ReadDouble(*t, "copy", "min_containment", 0.05, 1.0,
                          &c.min_containment);
    }
    if (status.ok()) {
      status = ReadInteger(*t, "copy", "min_shared_shingles", 1, 1000,
                           &c.min_shared_shingles);
    }
    if (status.ok()) {
      status = ReadInteger(*t, "copy", "fingerprint_capacity", 1024,
                           int64_t{FingerprintIndex::kMaxCapacity},
                           &c.fingerprint_capacity);
    }
    if (status.ok()) {
      status = ReadInteger(*t, "copy", "window_articles", 1024,
                           int64_t{1} << 28, &c.window_articles);
    }
    if (status.ok()) {
      status = ReadInteger(*t, "copy", "window_arena_words", 1 << 16,
                           int64_t{1} << 32, &c.window_arena_words);
    }
    if (status.ok()) {
      status =
          ReadInteger(*t, "copy", "max_candidates", 1, 4096, &c.max_candidates);
    }
    if (!status.ok()) return fail(status);
  }
  if (const toml::table* t = section("story")) {
    StoryConfig& c = config.story;
    status =
        CheckKeys(*t, "story",
                  {"enabled", "title_boost", "lead_boost", "lead_lines",
                   "zipf_ceiling", "unknown_zipf", "number_zipf", "max_terms",
                   "prior_articles", "df_half_life_articles", "max_df_terms",
                   "threshold", "time_grace_hours", "time_scale_hours",
                   "window_hours", "window_articles", "max_centroid_terms",
                   "text_year_chars", "year_conflict_factor"});
    const std::string_view s = "story";
    if (const toml::node* enabled = t->get("enabled"); enabled != nullptr) {
      if (!enabled->is_boolean()) {
        return fail(absl::InvalidArgumentError(
            "config key 'story.enabled' must be true or false"));
      }
      c.terms.enabled = *enabled->value<bool>();
    }
    if (status.ok())
      status = ReadDouble(*t, s, "title_boost", 0, 100, &c.terms.title_boost);
    if (status.ok())
      status = ReadDouble(*t, s, "lead_boost", 0, 100, &c.terms.lead_boost);
    if (status.ok())
      status = ReadInteger(*t, s, "lead_lines", 0, 1000, &c.terms.lead_lines);
    if (status.ok())
      status = ReadDouble(*t, s, "zipf_ceiling", 0, 12, &c.terms.zipf_ceiling);
    if (status.ok())
      status = ReadDouble(*t, s, "unknown_zipf", 0, 12, &c.terms.unknown_zipf);
    if (status.ok())
      status = ReadDouble(*t, s, "number_zipf", 0, 12, &c.terms.number_zipf);
    if (status.ok())
      status = ReadInteger(*t, s, "max_terms", 1, 10000, &c.max_terms);
    if (status.ok())
      status = ReadDouble(*t, s, "prior_articles", 0, 1e12, &c.prior_articles);
    if (status.ok()) {
      status = ReadDouble(*t, s, "df_half_life_articles", 1, 1e15,
                          &c.df_half_life_articles);
    }
    if (status.ok()) {
      status = ReadInteger(*t, s, "max_df_terms", 1024, int64_t{1} << 30,
                           &c.max_df_terms);
    }
    if (status.ok())
      status = ReadDouble(*t, s, "threshold", 0, 1, &c.threshold);
    if (status.ok())
      status =
          ReadDouble(*t, s, "time_grace_hours", 0, 1e6, &c.time_grace_hours);
    if (status.ok()) {
      status =
          ReadDouble(*t, s, "time_scale_hours", 0.01, 1e6, &c.time_scale_hours);
    }
    if (status.ok())
      status = ReadDouble(*t, s, "window_hours", 0.01, 1e7, &c.window_hours);
    if (status.ok()) {
      status = ReadInteger(*t, s, "window_articles", 1, int64_t{1} << 40,
                           &c.window_articles);
    }
    if (status.ok()) {
      status = ReadInteger(*t, s, "max_centroid_terms", 1, 100000,
                           &c.max_centroid_terms);
    }
    if (status.ok()) {
      status = ReadInteger(*t, s, "text_year_chars", 0, 1 << 20,
                           &c.terms.text_year_chars);
    }
    if (status.ok()) {
      status = ReadDouble(*t, s, "year_conflict_factor", 0, 1,
                          &c.year_conflict_factor);
    }
    if (!status.ok()) return fail(status);
  }
  if (const toml::table* t = section("kafka")) {
    status = ReadKafka(*t, &config.kafka);
    if (!status.ok()) return fail(status);
  }
  if (const toml::table* t = section("metrics")) {
    status = CheckKeys(*t, "metrics", {"address", "port"});
    if (status.ok())
      status =
          ReadInteger(*t, "metrics", "port", 0, 65535, &config.metrics.port);
    if (status.ok())
      status = ReadString(*t, "metrics", "address", &config.metrics.address);
    if (!status.ok()) return fail(status);
  }
  return config;
}

}  // namespace storyd
