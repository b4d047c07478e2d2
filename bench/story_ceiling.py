"""How far word-overlap similarity can take the story tier, with hindsight.

Builds storyd's story vectors in Python (word tokens, lowercased; the title
and the first two body lines count twice; weight (1 + ln tf) * max(0, 6 -
zipf) with the Zipf frequency from conf/prior/term_prior.tsv, numbers at
zipf 3, unknown words at 1; the 60 heaviest terms) and clusters a labeled
file *offline*, the whole file at once, with the threshold chosen by the
gold labels afterwards: the best any clustering of these similarities can
do, which the online story tier cannot beat. Two similarities:

  cosine  the vectors' cosine (what storyd's story tier scores);
  snn k   shared nearest neighbours: each article's row of cosines keeps its
          k largest, and two articles compare those rows by cosine (an
          article is alike another when the same articles are near both).

With --online it also runs the shared-neighbour similarity online, each
article against the articles before it only (its neighbours among them),
joining the story of the most similar earlier article when that reaches a
threshold: what a daemon that names the story at once could get from it.

Usage (bench/story_ceiling.sh sets up numpy and scipy):
  story_ceiling.py [--online] NAME...   NAME: tests/data/NAME.jsonl + .gold.tsv
Prints story B-cubed precision, recall and F1 at the best threshold.
"""
import argparse
import collections
import json
import math
import pathlib
import re

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.U)


def load_prior():
    zipf = {}
    for line in open(ROOT / "conf/prior/term_prior.tsv", encoding="utf-8"):
        if line.startswith("#"):
            continue
        term, value = line.rstrip("\n").split("\t")
        zipf[term] = float(value)
    return zipf


def story_vector(article, prior, max_terms=60, boost=2.0, lead_lines=2):
    counts = collections.Counter()
    for word in WORD.findall((article.get("title") or "").lower()):
        counts[word] += boost
    for i, line in enumerate(article["body"].split("\n")):
        for word in WORD.findall(line.lower()):
            counts[word] += boost if i < lead_lines else 1.0
    weights = {}
    for word, tf in counts.items():
        zipf = 3.0 if word.isdigit() else prior.get(word, 1.0)
        if zipf < 6.0:
            weights[word] = (1 + math.log(tf)) * (6.0 - zipf)
    heaviest = sorted(weights.items(), key=lambda kv: -kv[1])[:max_terms]
    norm = math.sqrt(sum(w * w for _, w in heaviest)) or 1.0
    return {term: w / norm for term, w in heaviest}


def cosine_matrix(vectors):
    columns = {}
    for v in vectors:
        for term in v:
            columns.setdefault(term, len(columns))
    matrix = np.zeros((len(vectors), len(columns)))
    for row, v in enumerate(vectors):
        for term, w in v.items():
            matrix[row, columns[term]] = w
    return matrix @ matrix.T


def shared_neighbours(similarity, k):
    rows = similarity.copy()
    np.fill_diagonal(rows, 0)
    if len(rows) > k:
        dropped = np.argpartition(-rows, k, axis=1)[:, k:]
        np.put_along_axis(rows, dropped, 0, axis=1)
    rows = np.maximum(rows, 0) + np.eye(len(rows))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows @ rows.T


def bcubed(labels, gold):
    by_label, by_gold = collections.defaultdict(set), collections.defaultdict(set)
    for i, (label, g) in enumerate(zip(labels, gold)):
        by_label[label].add(i)
        by_gold[g].add(i)
    precision = recall = 0.0
    for i, (label, g) in enumerate(zip(labels, gold)):
        shared = len(by_label[label] & by_gold[g])
        precision += shared / len(by_label[label])
        recall += shared / len(by_gold[g])
    precision /= len(labels)
    recall /= len(labels)
    return precision, recall, 2 * precision * recall / (precision + recall)


def best_offline(similarity, gold, method):
    distance = np.clip(1 - similarity, 0, None)
    np.fill_diagonal(distance, 0)
    tree = linkage(squareform((distance + distance.T) / 2, checks=False), method)
    best = None
    for threshold in np.arange(0.30, 1.0, 0.01):
        labels = fcluster(tree, threshold, "distance")
        scores = bcubed(labels, gold)
        if best is None or scores[2] > best[0][2]:
            best = (scores, threshold)
    return best


def online_shared_neighbours(similarity, gold, k, threshold):
    labels = []
    for i in range(len(gold)):
        if i == 0:
            labels.append(0)
            continue
        rows = shared_neighbours(similarity[: i + 1, : i + 1], k)
        earlier = rows[i, :i]
        nearest = int(np.argmax(earlier))
        labels.append(labels[nearest] if earlier[nearest] >= threshold else i)
    return bcubed(labels, gold)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--online", action="store_true")
    parser.add_argument("names", nargs="+")
    args = parser.parse_args()
    prior = load_prior()
    for name in args.names:
        articles = [json.loads(line) for line in open(ROOT / f"tests/data/{name}.jsonl")]
        gold_of = {}
        for line in open(ROOT / f"tests/data/{name}.gold.tsv"):
            article_id, story, _ = line.rstrip("\n").split("\t")
            gold_of[article_id] = story
        gold = [gold_of[a["id"]] for a in articles]
        similarity = cosine_matrix([story_vector(a, prior) for a in articles])
        rows = [("cosine", similarity)]
        rows += [(f"snn k={k}", shared_neighbours(similarity, k)) for k in (6, 8, 10, 12)]
        print(f"{name} ({len(articles)} articles), offline, threshold chosen by the gold labels:")
        for label, matrix in rows:
            for method in ("average", "complete"):
                (p, r, f1), threshold = best_offline(matrix, gold, method)
                print(f"  {label:10} {method:8} P {p:.3f} R {r:.3f} F1 {f1:.3f}"
                      f" at distance {threshold:.2f}")
        if args.online:
            print(f"{name}, online shared neighbours (k=10), nearest earlier article:")
            for threshold in (0.3, 0.4, 0.5, 0.6):
                p, r, f1 = online_shared_neighbours(similarity, gold, 10, threshold)
                print(f"  threshold {threshold:.1f} P {p:.3f} R {r:.3f} F1 {f1:.3f}")


if __name__ == "__main__":
    main()
