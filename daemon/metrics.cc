#include "daemon/metrics.h"

#include "absl/strings/str_format.h"
#include "core/strings.h"

namespace storyd {

void LatencyHistogram::Observe(double seconds) {
  size_t bucket = 0;
  while (bucket < kBounds.size() && seconds > kBounds[bucket]) ++bucket;
  // relaxed: independent statistics, read only for display.
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(static_cast<uint64_t>(seconds * 1e9),
                       std::memory_order_relaxed);
}

void LatencyHistogram::Render(std::string_view name, std::string_view labels,
                              std::string* out) const {
  uint64_t cumulative = 0;
  std::string prefix =
      labels.empty() ? std::string() : std::string(labels) + ",";
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    absl::StrAppendFormat(out, "%s_bucket{%sle=\"%g\"} %d\n", name, prefix,
                          kBounds[i], cumulative);
  }
  cumulative += buckets_[kBounds.size()].load(std::memory_order_relaxed);
  absl::StrAppendFormat(out, "%s_bucket{%sle=\"+Inf\"} %d\n", name, prefix,
                        cumulative);
  // StrCat, not operator+: g++ 12 at -O3 reports a false -Wrestrict there.
  std::string braces =
      labels.empty() ? std::string() : StrCat("{", labels, "}");
  absl::StrAppendFormat(
      out, "%s_sum%s %.9f\n", name, braces,
      static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9);
  absl::StrAppendFormat(out, "%s_count%s %d\n", name, braces,
                        count_.load(std::memory_order_relaxed));
}

void DaemonMetrics::SetConsumerLag(std::map<int32_t, int64_t> lag) {
  std::lock_guard<std::mutex> lock(lag_mutex_);
  consumer_lag_ = std::move(lag);
}

std::string DaemonMetrics::RenderPrometheus() const {
  std::string out;
  auto counter = [&](std::string_view name, std::string_view help,
                     uint64_t value) {
    absl::StrAppendFormat(&out, "# HELP %s %s\n# TYPE %s counter\n%s %d\n",
                          name, help, name, name, value);
  };
  auto gauge = [&](std::string_view name, std::string_view help,
                   int64_t value) {
    absl::StrAppendFormat(&out, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name,
                          help, name, name, value);
  };
  constexpr auto relaxed = std::memory_order_relaxed;
  counter("storyd_articles_consumed_total", "Input records consumed.",
          articles_consumed.load(relaxed));
  counter("storyd_articles_emitted_total",
          "Output records acknowledged by the broker.",
          articles_emitted.load(relaxed));
  counter("storyd_copies_total", "Articles found to be copies.",
          copies.load(relaxed));
  counter("storyd_new_stories_total", "Articles that started a story.",
          new_stories.load(relaxed));
  counter("storyd_same_story_total", "Articles that joined an active story.",
          same_story.load(relaxed));
  counter("storyd_dead_letters_total", "Records sent to the dead-letter topic.",
          dead_letters.load(relaxed));
  counter("storyd_delivery_failures_total",
          "Produce attempts the broker did not acknowledge.",
          delivery_failures.load(relaxed));
  counter("storyd_offset_commits_total",
          "Offset commits (transactions, when exactly once).",
          commits.load(relaxed));
  counter("storyd_state_records_restored_total",
          "Changelog records applied while restoring.",
          state_records_restored.load(relaxed));
  counter("storyd_state_records_applied_total",
          "Changelog records of other instances applied while running.",
          state_records_applied.load(relaxed));
  counter("storyd_story_merges_total", "Split stories merged and announced.",
          story_merges.load(relaxed));
  counter("storyd_replays_total",
          "Input records already in the restored state, answered again.",
          replays.load(relaxed));
  counter("storyd_transaction_aborts_total",
          "Transactions aborted; the state was restored and input re-read.",
          transaction_aborts.load(relaxed));
  counter("storyd_rule_reloads_total", "Boilerplate rules reloaded on SIGHUP.",
          rule_reloads.load(relaxed));
  counter("storyd_rule_reload_failures_total",
          "SIGHUP reloads refused (a bad rules file); the rules in use stay.",
          rule_reload_failures.load(relaxed));
  gauge("storyd_in_flight_records", "Records consumed but not yet committed.",
        in_flight.load(relaxed));
  gauge("storyd_paused",
        "1 while input partitions are paused for backpressure.",
        paused.load(relaxed));
  gauge("storyd_copy_index_entries", "Fingerprints in the copy index.",
        static_cast<int64_t>(fingerprint_entries.load(relaxed)));
  gauge("storyd_copy_index_bytes", "Memory reserved by the copy indexes.",
        static_cast<int64_t>(copy_index_bytes.load(relaxed)));
  gauge("storyd_active_stories", "Stories in the story index.",
        static_cast<int64_t>(active_stories.load(relaxed)));
  out.append(
      "# HELP storyd_stage_seconds Time per article in each pipeline stage.\n"
      "# TYPE storyd_stage_seconds histogram\n");
  process_seconds.Render("storyd_stage_seconds", "stage=\"process\"", &out);
  assign_seconds.Render("storyd_stage_seconds", "stage=\"assign\"", &out);
  end_to_end_seconds.Render("storyd_stage_seconds", "stage=\"end_to_end\"",
                            &out);
  commit_seconds.Render("storyd_stage_seconds", "stage=\"commit\"", &out);
  out.append(
      "# HELP storyd_consumer_lag Messages behind the end of each input "
      "partition.\n"
      "# TYPE storyd_consumer_lag gauge\n");
  std::lock_guard<std::mutex> lock(lag_mutex_);
  for (const auto& [partition, lag] : consumer_lag_) {
    absl::StrAppendFormat(&out, "storyd_consumer_lag{partition=\"%d\"} %d\n",
                          partition, lag);
  }
  return out;
}

}  // namespace storyd
