// The `storyd` command. See README.md and `storyd --help`.
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "daemon/config.h"
#include "daemon/kafka_daemon.h"
#include "daemon/kafka_tools.h"
#include "daemon/offline_commands.h"

namespace {

// Opens --input/--output, or uses stdin/stdout for an empty path.
class Streams {
 public:
  bool Open(const std::string& input, const std::string& output) {
    if (!input.empty()) {
      in_file_.open(input, std::ios::binary);
      if (!in_file_) {
        std::cerr << "storyd: cannot open " << input << "\n";
        return false;
      }
    }
    if (!output.empty()) {
      out_file_.open(output, std::ios::binary | std::ios::trunc);
      if (!out_file_) {
        std::cerr << "storyd: cannot write " << output << "\n";
        return false;
      }
    }
    return true;
  }
  std::istream& in() { return in_file_.is_open() ? in_file_ : std::cin; }
  std::ostream& out() { return out_file_.is_open() ? out_file_ : std::cout; }

 private:
  std::ifstream in_file_;
  std::ofstream out_file_;
};

// The input path, or stdin when it is empty, is a regular file (not a pipe
// or a terminal): all of it can be read at once.
bool IsRegularFile(const std::string& input) {
  struct stat status {};
  const int result = input.empty() ? fstat(STDIN_FILENO, &status)
                                   : stat(input.c_str(), &status);
  return result == 0 && S_ISREG(status.st_mode);
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  CLI::App app{"storyd: finds copies and stories in a stream of news articles"};
  app.require_subcommand(1);
  std::string config_path, input, output;
  int threads = -1;
  auto add_common = [&](CLI::App* command) {
    command->add_option("--config", config_path,
                        "TOML config (conf/storyd.toml documents it)");
  };

  CLI::App* dedup =
      app.add_subcommand("dedup",
                         "JSON Lines articles in, one assignment (story_id, "
                         "dup_of, ...) per article out");
  add_common(dedup);
  dedup->add_option("--input", input, "input file (default: stdin)");
  dedup->add_option("--output", output, "output file (default: stdout)");
  dedup->add_option("--threads", threads,
                    "worker threads (overrides the config; 0 = cores)");

  CLI::App* strip = app.add_subcommand(
      "strip", "print each article's cleaned text and what was removed");
  add_common(strip);
  strip->add_option("--input", input, "input file (default: stdin)");

  std::string path_a, path_b;
  CLI::App* explain =
      app.add_subcommand("explain", "why two articles are or are not copies");
  add_common(explain);
  explain->add_option("A", path_a, "first article (a JSON object)")->required();
  explain->add_option("B", path_b, "second article (a JSON object)")
      ->required();

  storyd::DaemonOptions daemon_options;
  std::string brokers;
  CLI::App* run = app.add_subcommand("run",
                                     "the Kafka daemon: consume articles, emit "
                                     "story assignments and dead letters");
  run->add_option(
      "--config", config_path,
      "TOML config (default: /etc/storyd/storyd.toml when it exists)");
  run->add_flag("--embedded-broker", daemon_options.embedded_broker,
                "start librdkafka's mock cluster in-process and use it (a "
                "demo, no broker "
                "needed)");
  run->add_option("--brokers", brokers,
                  "bootstrap servers (overrides kafka.bootstrap.servers)");
  run->add_option("--threads", threads,
                  "worker threads (overrides the config; 0 = cores)");

  storyd::ProduceOptions produce_options;
  CLI::App* produce =
      app.add_subcommand("produce", "feed a topic from a JSON Lines file");
  produce->add_option("--brokers", produce_options.brokers, "bootstrap servers")
      ->required();
  produce->add_option("--topic", produce_options.topic, "topic")
      ->default_val("articles");
  produce->add_option("--input", input, "input file (default: stdin)");
  produce->add_option(
      "--rate", produce_options.rate,
      "records per second to offer, once the client is connected (default: "
      "as fast as possible)");

  storyd::ConsumeOptions consume_options;
  CLI::App* consume =
      app.add_subcommand("consume", "print a topic's records from the start");
  consume->add_option("--brokers", consume_options.brokers, "bootstrap servers")
      ->required();
  consume->add_option("--topic", consume_options.topic, "topic")
      ->default_val("article-stories");
  consume->add_option("--count", consume_options.count,
                      "stop after this many records");
  consume
      ->add_option("--idle-timeout-ms", consume_options.idle_timeout_ms,
                   "stop when nothing arrives for this long")
      ->default_val(10000);
  consume->add_flag("--timestamps", consume_options.with_timestamps,
                    "print {\"timestamp\":ms,\"key\":...,\"value\":...}");
  consume->add_flag(
      "--headers", consume_options.with_headers,
      "print {\"headers\":...,\"value\":...} (dead letters carry reasons)");

  std::string gold_path, output_path;
  CLI::App* evaluate = app.add_subcommand(
      "evaluate",
      "run dedup over a labeled file and print the quality figures");
  add_common(evaluate);
  evaluate->add_option("--input", input, "labeled articles (JSON Lines)")
      ->required();
  evaluate->add_option("--gold", gold_path, "gold TSV: id, story, dup group")
      ->required();
  evaluate->add_option("--threads", threads,
                       "worker threads (overrides the config; 0 = cores)");
  bool json = false;
  CLI::App* score = app.add_subcommand(
      "score", "quality figures of an output against gold labels");
  score->add_option("GOLD", gold_path, "gold TSV: id, story, dup group")
      ->required();
  score->add_option("OUTPUT", output_path, "storyd dedup output (JSON Lines)")
      ->required();
  score->add_flag("--json", json, "print one JSON object");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return code == 0 ? 0 : storyd::kExitUsage;
  }

  if (*run && config_path.empty() &&
      std::filesystem::exists("/etc/storyd/storyd.toml")) {
    config_path = "/etc/storyd/storyd.toml";
  }
  storyd::StorydConfig config = storyd::DefaultConfig();
  if (!config_path.empty()) {
    absl::StatusOr<storyd::StorydConfig> loaded =
        storyd::LoadConfig(config_path);
    if (!loaded.ok()) {
      std::cerr << "storyd: " << loaded.status().message() << "\n";
      return storyd::kExitUsage;
    }
    config = *loaded;
  }
  if (threads >= 0) config.threads = threads;

  if (*run) {
    if (!brokers.empty()) config.kafka.common["bootstrap.servers"] = brokers;
    return storyd::RunDaemon(config, daemon_options, std::cout, std::cerr);
  }
  if (*consume)
    return storyd::RunConsume(consume_options, std::cout, std::cerr);
  if (*produce) {
    Streams produce_streams;
    if (!produce_streams.Open(input, std::string())) return storyd::kExitIo;
    return storyd::RunProduce(produce_options, produce_streams.in(), std::cerr);
  }
  if (*evaluate) {
    return storyd::RunEvaluate(config, input, gold_path, std::cout, std::cerr);
  }
  if (*score)
    return storyd::RunScore(gold_path, output_path, json, std::cout, std::cerr);
  if (*explain)
    return storyd::RunExplain(config, path_a, path_b, std::cout, std::cerr);
  Streams streams;
  if (!streams.Open(input, *dedup ? output : std::string()))
    return storyd::kExitIo;
  if (*strip)
    return storyd::RunStrip(config, streams.in(), streams.out(), std::cerr);
  return storyd::RunDedup(config, streams.in(), streams.out(), std::cerr,
                          IsRegularFile(input) ? storyd::DedupInput::kComplete
                                               : storyd::DedupInput::kStream);
}
