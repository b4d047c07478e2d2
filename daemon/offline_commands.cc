#include "daemon/offline_commands.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "core/article.h"
#include "core/boilerplate.h"
#include "core/copy_detector.h"
#include "core/pipeline.h"
#include "core/scoring.h"
#include "core/story_index.h"
#include "core/strings.h"
#include "core/term_prior.h"
#include "core/text_normalizer.h"

namespace storyd {
namespace {

// Input records read in batches; each batch is processed in parallel, then
// assigned in order. Every article of a batch is indexed, then each
// searches for earlier articles only (ArticleProcessor::Index and
// SearchEarlier), so the result does not depend on the thread count.
constexpr size_t kBatchRecords = 256;
// What `dedup` reads at most before it sizes its copy index (RunDedup).
constexpr size_t kReadAheadRecords = 256 * kBatchRecords;
constexpr size_t kReadAheadBytes = size_t{64} << 20;

struct InputRecord {
  size_t line_number = 0;
  std::string text;
};

// Counts of rejected records by reason, for the summary.
class RejectionCounter {
 public:
  void Add(size_t line_number, const InputProblem& problem, std::ostream& log) {
    ++counts_[std::string(InputErrorName(problem.error))];
    ++total_;
    log << "storyd: line " << line_number << ": "
        << InputErrorName(problem.error) << ": " << problem.reason << "\n";
  }
  size_t total() const { return total_; }
  std::string Summary() const {
    std::string out;
    for (const auto& [name, count] : counts_) {
      out += StrCat(out.empty() ? "" : ", ", name, "=", count);
    }
    return out;
  }

 private:
  std::map<std::string, size_t> counts_;
  size_t total_ = 0;
};

// Reads up to kBatchRecords non-blank lines. Returns false at end of input.
bool ReadBatch(std::istream& in, size_t* line_number,
               std::vector<InputRecord>* batch) {
  batch->clear();
  std::string line;
  while (batch->size() < kBatchRecords && std::getline(in, line)) {
    ++*line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    batch->push_back({*line_number, std::move(line)});
  }
  return !batch->empty();
}

// Runs `work(worker_index, item_index)` for every item on `threads` threads.
template <typename Work>
void ParallelFor(int threads, size_t items, Work work) {
  std::atomic<size_t> next{0};
  auto run = [&](int worker) {
    for (size_t i = next.fetch_add(1, std::memory_order_relaxed); i < items;
         i = next.fetch_add(1, std::memory_order_relaxed)) {
      work(worker, i);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(run, t);
  run(0);
  for (std::thread& thread : pool) thread.join();
}

std::string FeaturesLine(std::string_view label, const Article& article,
                         const StrippedText& cleaned,
                         const ArticleFeatures& features) {
  std::string out = absl::StrFormat(
      "%s: id=%s tokens=%d shingles=%d fingerprint=%016x\n", label, article.id,
      features.token_count, features.shingles.size(), features.simhash);
  absl::StrAppendFormat(&out, "  stripped %d item(s)%s\n",
                        cleaned.removed.size(),
                        cleaned.removed.empty() ? "" : ":");
  for (const std::string& removed : cleaned.removed) {
    absl::StrAppend(&out, "    - ", removed, "\n");
  }
  return out;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(StrCat("cannot open ", path));
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

}  // namespace

int RunDedup(const StorydConfig& config, std::istream& in, std::ostream& out,
             std::ostream& log, DedupInput input) {
  absl::StatusOr<BoilerplateStripper> stripper =
      BoilerplateStripper::Load(config.rules_path);
  if (!stripper.ok()) {
    log << "storyd: " << stripper.status().message() << "\n";
    return kExitUsage;
  }
  const auto start = std::chrono::steady_clock::now();
  const int threads = EffectiveThreads(config);
  size_t line_number = 0;
  // Read ahead (a complete input only: a pipe's first records are not held
  // back): an input that ends within kReadAheadRecords records and
  // kReadAheadBytes (a file of a few thousand articles, the usual offline
  // run) gets a SimHash index and histories of its own size. The index's
  // bucket heads are hashed, so at the configured capacity (40 MB at 4 M
  // articles) even a short run writes to every page of them, and clearing
  // those pages was half of a run on a few articles. With a slot for
  // every record nothing expires either way, so no output changes.
  std::deque<std::vector<InputRecord>> read_ahead;
  size_t ahead_records = 0, ahead_bytes = 0;
  bool input_ended = false;
  while (input == DedupInput::kComplete && ahead_records < kReadAheadRecords &&
         ahead_bytes < kReadAheadBytes) {
    std::vector<InputRecord> ahead;
    if (!ReadBatch(in, &line_number, &ahead)) {
      input_ended = true;
      break;
    }
    ahead_records += ahead.size();
    for (const InputRecord& record : ahead) ahead_bytes += record.text.size();
    read_ahead.push_back(std::move(ahead));
  }
  CopyConfig copy = config.copy;
  if (input_ended) {
    copy.fingerprint_capacity =
        std::min(copy.fingerprint_capacity,
                 std::max(ahead_records, FingerprintIndex::kMinCapacity));
  }
  auto read_batch = [&](std::vector<InputRecord>* batch) {
    if (read_ahead.empty()) return ReadBatch(in, &line_number, batch);
    *batch = std::move(read_ahead.front());
    read_ahead.pop_front();
    return true;
  };
  CopyDetector detector(copy);
  ArticleProcessor processor(&*stripper, &detector, &TermPrior::Embedded(),
                             config.story.terms, config.learner);
  Assigner assigner(copy.fingerprint_capacity, config.story, config.learner);
  assigner.DeferCopyStoryTerms(&processor);
  assigner.ShortcutIdenticalCopies(&processor, config.copy.window_articles);
  assigner.SearchEarlierOnly(/*order_slack=*/kBatchRecords);
  std::vector<std::unique_ptr<ArticleParser>> parsers;
  for (int t = 0; t < threads; ++t) {
    parsers.push_back(std::make_unique<ArticleParser>(config.max_record_bytes));
  }
  std::vector<ProcessScratch> scratches(threads);

  // Batch k+1 is processed on the workers while batch k is assigned on
  // this thread. Every article of batch k+1 is inserted after all of batch
  // k, and the assigning reads a copy index only for a verbatim copy whose
  // worker skipped the search and whose set it does not remember
  // (Assigner::ShortcutIdenticalCopies): that search is for earlier
  // articles only, but at the rings' eviction edge it may miss an entry the
  // overwrite of batch k+1 took, whatever the thread count (and so may a
  // worker's search with several threads, when a batch straddles that
  // edge: which of the batch's inserts claimed a slot first depends on
  // timing). Batches start at multiples of kBatchRecords, the order slack
  // of the searches. A batch strips the boilerplate learned up to the batch
  // before the one being assigned while it runs: a fixed point in the
  // sequence, so the thread count does not matter.
  auto process = [&](const std::vector<InputRecord>& batch,
                     std::vector<ProcessedArticle>* processed,
                     uint64_t first_seq,
                     std::shared_ptr<const LearnedBoilerplate> learned) {
    processed->resize(batch.size());
    ParallelFor(threads, batch.size(), [&](int worker, size_t i) {
      processor.Index(parsers[worker].get(), first_seq + i, batch[i].text, {},
                      learned.get(), &(*processed)[i], &scratches[worker]);
    });
    ParallelFor(threads, batch.size(), [&](int /*worker*/, size_t i) {
      processor.SearchEarlier(&(*processed)[i], kBatchRecords);
    });
  };
  std::vector<InputRecord> batch, next_batch;
  std::vector<ProcessedArticle> processed, next_processed;
  RejectionCounter rejected;
  size_t records = 0, articles = 0, copies = 0;
  std::string output;
  bool have_batch = read_batch(&batch);
  uint64_t next_seq = batch.size();
  if (have_batch) process(batch, &processed, 0, assigner.LearnedSnapshot());
  while (have_batch) {
    const bool have_next = read_batch(&next_batch);
    std::thread next_worker;
    if (have_next) {
      next_worker = std::thread(process, std::cref(next_batch), &next_processed,
                                next_seq, assigner.LearnedSnapshot());
      next_seq += next_batch.size();
    }
    output.clear();
    for (size_t i = 0; i < batch.size(); ++i) {
      ++records;
      std::variant<Assignment, InputProblem> result =
          assigner.Assign(processed[i]);
      if (const InputProblem* problem = std::get_if<InputProblem>(&result)) {
        rejected.Add(batch[i].line_number, *problem, log);
        continue;
      }
      const Assignment& assignment = std::get<Assignment>(result);
      ++articles;
      if (assignment.dup_of.has_value()) ++copies;
      output.append(FormatAssignmentJson(assignment));
      output.push_back('\n');
    }
    out << output;
    if (next_worker.joinable()) next_worker.join();
    if (!out) {
      log << "storyd: cannot write output\n";
      return kExitIo;
    }
    batch.swap(next_batch);
    processed.swap(next_processed);
    have_batch = have_next;
  }
  if (in.bad()) {
    log << "storyd: cannot read input\n";
    return kExitIo;
  }
  out.flush();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  log << absl::StrFormat(
      "storyd dedup: %d records, %d articles, %d copies, %d rejected%s%s%s, %d "
      "threads, %.2f s, "
      "%.0f articles/s\n",
      records, articles, copies, rejected.total(), rejected.total() ? " (" : "",
      rejected.Summary(), rejected.total() ? ")" : "", threads, seconds,
      seconds > 0 ? static_cast<double>(records) / seconds : 0.0);
  return rejected.total() == 0 ? kExitOk : kExitRejectedInput;
}

int RunStrip(const StorydConfig& config, std::istream& in, std::ostream& out,
             std::ostream& log) {
  absl::StatusOr<BoilerplateStripper> stripper =
      BoilerplateStripper::Load(config.rules_path);
  if (!stripper.ok()) {
    log << "storyd: " << stripper.status().message() << "\n";
    return kExitUsage;
  }
  CopyDetector unused_detector(CopyConfig{.fingerprint_capacity = 1024,
                                          .window_articles = 1024,
                                          .window_arena_words = 1 << 16});
  ArticleProcessor processor(&*stripper, &unused_detector,
                             &TermPrior::Embedded(), config.story.terms);
  ArticleParser parser(config.max_record_bytes);
  RejectionCounter rejected;
  std::vector<InputRecord> batch;
  size_t line_number = 0;
  while (ReadBatch(in, &line_number, &batch)) {
    for (const InputRecord& record : batch) {
      ParsedArticle parsed = parser.Parse(record.text);
      if (const InputProblem* problem = std::get_if<InputProblem>(&parsed)) {
        rejected.Add(record.line_number, *problem, log);
        continue;
      }
      const Article& article = std::get<Article>(parsed);
      StrippedText cleaned = processor.Clean(article, /*record_removed=*/true);
      std::string line = "{\"id\":";
      AppendJsonString(article.id, &line);
      line.append(",\"text\":");
      AppendJsonString(cleaned.text, &line);
      line.append(",\"removed\":[");
      for (size_t i = 0; i < cleaned.removed.size(); ++i) {
        if (i > 0) line.push_back(',');
        AppendJsonString(cleaned.removed[i], &line);
      }
      line.append("]}\n");
      out << line;
    }
  }
  if (rejected.total() > 0) {
    log << "storyd strip: " << rejected.total() << " rejected ("
        << rejected.Summary() << ")\n";
  }
  return rejected.total() == 0 ? kExitOk : kExitRejectedInput;
}

int RunExplain(const StorydConfig& config, const std::string& path_a,
               const std::string& path_b, std::ostream& out,
               std::ostream& log) {
  absl::StatusOr<BoilerplateStripper> stripper =
      BoilerplateStripper::Load(config.rules_path);
  if (!stripper.ok()) {
    log << "storyd: " << stripper.status().message() << "\n";
    return kExitUsage;
  }
  CopyConfig copy = config.copy;
  copy.fingerprint_capacity = 1024;
  copy.window_articles = 1024;
  copy.window_arena_words = 1 << 16;
  CopyDetector detector(copy);
  ArticleProcessor processor(&*stripper, &detector, &TermPrior::Embedded(),
                             config.story.terms);
  ArticleParser parser(config.max_record_bytes);
  Article articles[2];
  const std::string* paths[2] = {&path_a, &path_b};
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::string> text = ReadFile(*paths[i]);
    if (!text.ok()) {
      log << "storyd: " << text.status().message() << "\n";
      return kExitIo;
    }
    ParsedArticle parsed = parser.Parse(*text);
    if (const InputProblem* problem = std::get_if<InputProblem>(&parsed)) {
      log << "storyd: " << *paths[i] << ": " << InputErrorName(problem->error)
          << ": " << problem->reason << "\n";
      return kExitRejectedInput;
    }
    articles[i] = std::get<Article>(std::move(parsed));
  }
  StrippedText cleaned_a = processor.Clean(articles[0], true);
  StrippedText cleaned_b = processor.Clean(articles[1], true);
  const std::string normalized_a = NormalizeForMatching(cleaned_a.text);
  const std::string normalized_b = NormalizeForMatching(cleaned_b.text);
  ArticleFeatures features_a = processor.Features(normalized_a);
  ArticleFeatures features_b = processor.Features(normalized_b);
  out << FeaturesLine("A", articles[0], cleaned_a, features_a);
  out << FeaturesLine("B", articles[1], cleaned_b, features_b);
  CopyCandidate comparison = detector.Compare(features_a, features_b);
  size_t shared = IntersectionSize(features_a.shingles, features_b.shingles);
  const CopyConfig& c = detector.config();
  out << absl::StrFormat(
      "hamming distance: %d bits (fast radius k=%d: %s)\n", comparison.hamming,
      c.max_hamming, comparison.hamming <= c.max_hamming ? "within" : "beyond");
  out << absl::StrFormat(
      "shingle overlap: %d shared of %d and %d word %d-shingles; containment "
      "%.4f "
      "(threshold %.2f, at least %d shared)\n",
      shared, features_a.shingles.size(), features_b.shingles.size(),
      c.shingle_size, comparison.score, c.min_containment,
      c.min_shared_shingles);
  bool copy_decision = comparison.method == CopyMethod::kContainment;
  out << "copy decision: " << (copy_decision ? "COPY" : "NOT A COPY") << " ("
      << (copy_decision ? "containment reaches the threshold"
                        : "containment is below the threshold")
      << "; the later article would get dup_of = the earlier)\n";

  // The story decision, as a freshly started daemon would weigh the terms
  // (prior document frequencies only).
  std::vector<std::string> texts_a, texts_b;
  std::vector<ArticleTerm> terms_a =
      processor.StoryTerms(articles[0], normalized_a, &texts_a);
  std::vector<ArticleTerm> terms_b =
      processor.StoryTerms(articles[1], normalized_b, &texts_b);
  StoryIndex fresh(config.story);
  TermVector vector_a = fresh.Weigh(terms_a), vector_b = fresh.Weigh(terms_b);
  absl::flat_hash_map<uint64_t, std::string> text_of;
  for (size_t i = 0; i < terms_a.size(); ++i)
    text_of[terms_a[i].hash] = texts_a[i];
  for (size_t i = 0; i < terms_b.size(); ++i)
    text_of[terms_b[i].hash] = texts_b[i];
  struct Shared {
    double contribution;
    std::string text;
    float weight_a, weight_b;
  };
  std::vector<Shared> shared_terms;
  for (size_t i = 0, j = 0; i < vector_a.size() && j < vector_b.size();) {
    if (vector_a[i].first < vector_b[j].first) {
      ++i;
    } else if (vector_b[j].first < vector_a[i].first) {
      ++j;
    } else {
      shared_terms.push_back(
          {static_cast<double>(vector_a[i].second) * vector_b[j].second,
           text_of[vector_a[i].first], vector_a[i].second, vector_b[j].second});
      ++i;
      ++j;
    }
  }
  std::sort(shared_terms.begin(), shared_terms.end(),
            [](const Shared& x, const Shared& y) {
              return x.contribution != y.contribution
                         ? x.contribution > y.contribution
                         : x.text < y.text;
            });
  const double cosine = Cosine(vector_a, vector_b);
  out << absl::StrFormat(
      "story terms: %d in A, %d in B (top %d kept), %d shared\n",
      terms_a.size(), terms_b.size(), config.story.max_terms,
      shared_terms.size());
  for (size_t i = 0; i < shared_terms.size() && i < 12; ++i) {
    const Shared& t = shared_terms[i];
    out << absl::StrFormat("  %-20s weight A %.3f  B %.3f  contributes %.4f\n",
                           t.text, t.weight_a, t.weight_b, t.contribution);
  }
  std::optional<double> hours_apart;
  bool years_conflict = false;
  std::string time_text = "unknown (a published_at is missing)";
  if (articles[0].published_unix_sec.has_value() &&
      articles[1].published_unix_sec.has_value()) {
    hours_apart =
        std::abs(static_cast<double>(*articles[0].published_unix_sec -
                                     *articles[1].published_unix_sec)) /
        3600.0;
    time_text = absl::StrFormat("%.1f hours", *hours_apart);
  } else if (config.story.terms.text_year_chars > 0) {
    // Without times, the years written in the title and lead stand in
    // (as StoryIndex::FindBest applies them to a one-article story).
    const std::vector<uint16_t> years_a =
        processor.TextYearsOf(articles[0], normalized_a);
    const std::vector<uint16_t> years_b =
        processor.TextYearsOf(articles[1], normalized_b);
    auto list = [](const std::vector<uint16_t>& years) {
      std::string text;
      for (uint16_t year : years) {
        if (!text.empty()) text += ' ';
        text += std::to_string(year);
      }
      return text.empty() ? std::string("none") : text;
    };
    years_conflict = TextYearsConflict(years_a, years_b);
    out << absl::StrFormat(
        "text years: A %s, B %s%s\n", list(years_a), list(years_b),
        years_conflict ? absl::StrFormat(": none shared, score x %.2f",
                                         config.story.year_conflict_factor)
                       : std::string());
  }
  const double score =
      DiscountedScore(cosine, hours_apart, years_conflict, config.story);
  out << absl::StrFormat(
      "story similarity: cosine %.4f, time distance %s, score %.4f "
      "(threshold %.2f)\n",
      cosine, time_text, score, config.story.threshold);
  out << "story decision: "
      << (copy_decision || score >= config.story.threshold
              ? "SAME STORY"
              : "DIFFERENT STORIES")
      << (copy_decision ? " (a copy inherits its original's story)\n" : "\n");
  return kExitOk;
}

int RunEvaluate(const StorydConfig& config, const std::string& input_path,
                const std::string& gold_path, std::ostream& out,
                std::ostream& log) {
  absl::StatusOr<std::string> gold = ReadFile(gold_path);
  if (!gold.ok()) {
    log << "storyd: " << gold.status().message() << "\n";
    return kExitIo;
  }
  std::ifstream input(input_path, std::ios::binary);
  if (!input) {
    log << "storyd: cannot open " << input_path << "\n";
    return kExitIo;
  }
  std::ostringstream assignments, dedup_log;
  const auto start = std::chrono::steady_clock::now();
  int code =
      RunDedup(config, input, assignments, dedup_log, DedupInput::kComplete);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  log << dedup_log.str();
  if (code == kExitUsage || code == kExitIo) return code;
  absl::StatusOr<QualityReport> report = ScoreRun(*gold, assignments.str());
  if (!report.ok()) {
    log << "storyd: " << report.status().message() << "\n";
    return kExitUsage;
  }
  out << FormatQualityReport(*report);
  out << absl::StrFormat(
      "%-18s %.0f\n", "articles_per_s",
      seconds > 0 ? static_cast<double>(report->articles) / seconds : 0.0);
  return code;
}

int RunScore(const std::string& gold_path, const std::string& output_path,
             bool json, std::ostream& out, std::ostream& log) {
  absl::StatusOr<std::string> gold = ReadFile(gold_path);
  absl::StatusOr<std::string> output = ReadFile(output_path);
  for (const auto* file : {&gold, &output}) {
    if (!file->ok()) {
      log << "storyd: " << file->status().message() << "\n";
      return kExitIo;
    }
  }
  absl::StatusOr<QualityReport> report = ScoreRun(*gold, *output);
  if (!report.ok()) {
    log << "storyd: " << report.status().message() << "\n";
    return kExitUsage;
  }
  if (json) {
    const QualityReport& r = *report;
    out << absl::StrFormat(
        "{\"n\": %d, \"missing\": %d, \"repeated\": %d, \"unparsable_lines\": "
        "%d, "
        "\"stories_pred\": %d, \"stories_gold\": %d, \"story_bcubed_p\": %.6f, "
        "\"story_bcubed_r\": %.6f, \"story_bcubed_f1\": %.6f, "
        "\"story_pair_p\": %.6f, "
        "\"story_pair_r\": %.6f, \"story_pair_f1\": %.6f, \"story_ari\": %.6f, "
        "\"dup_bcubed_p\": %.6f, \"dup_bcubed_r\": %.6f, \"dup_bcubed_f1\": "
        "%.6f}\n",
        r.articles, r.missing, r.repeated, r.unparsable_lines,
        r.stories_predicted, r.stories_gold, r.story_bcubed_p, r.story_bcubed_r,
        r.story_bcubed_f1, r.story_pair_p, r.story_pair_r, r.story_pair_f1,
        r.story_ari, r.dup_bcubed_p, r.dup_bcubed_r, r.dup_bcubed_f1);
  } else {
    out << FormatQualityReport(*report);
  }
  return kExitOk;
}

}  // namespace storyd
