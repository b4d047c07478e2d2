#!/usr/bin/env python3
"""Peer: datasketch MinHash + MinHashLSH (threshold) near-duplicate detection, online in file order.

Normalization: lowercase, word tokens (\\w+), word 3-shingles (utf-8), MinHash(num_perm) fed with
update_batch. For each article: lsh.query() for earlier candidates, dup_of = the earliest candidate
(optionally only candidates whose estimated Jaccard >= threshold, --verify), then lsh.insert().
Timed (printed to stderr as articles/s): normalization, shingling, MinHash, query and insert of
every article; not interpreter start-up, imports, file reading, JSON parsing or output writing.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_common import read_articles, report, word_shingles, words, write_results  # noqa: E402

from datasketch import MinHash, MinHashLSH  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", default="-")
    ap.add_argument("--output", default="-")
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--shingle", type=int, default=3, help="word shingle size (default 3)")
    ap.add_argument("--verify", action="store_true",
                    help="keep only LSH candidates whose MinHash Jaccard estimate >= threshold")
    args = ap.parse_args()

    articles = read_articles(args.input)
    ids = [a for a, _ in articles]
    dup_index = [-1] * len(articles)

    start = time.perf_counter()
    lsh = MinHashLSH(threshold=args.threshold, num_perm=args.num_perm)
    sigs = [] if args.verify else None
    for i, (_, body) in enumerate(articles):
        m = MinHash(num_perm=args.num_perm)
        m.update_batch([s.encode("utf-8") for s in word_shingles(words(body), args.shingle)])
        cands = lsh.query(m)
        if args.verify:
            cands = [c for c in cands if m.jaccard(sigs[c]) >= args.threshold]
        if cands:
            dup_index[i] = min(cands)
        lsh.insert(i, m, check_duplication=False)
        if args.verify:
            sigs.append(m)
    seconds = time.perf_counter() - start

    setting = f"num_perm={args.num_perm} threshold={args.threshold}" + (" verify" if args.verify else "")
    report("datasketch_peer", setting, len(ids), seconds,
           "normalize+shingle+MinHash+LSH query+insert")
    write_results(args.output, ids, dup_index)


if __name__ == "__main__":
    main()
