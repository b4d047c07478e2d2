#!/usr/bin/env python3
"""Peer: simhash (1e0n) Simhash + SimhashIndex with Hamming radius k, online in file order.

Features (--features): `default` = Simhash(text), the library's own features (lowercase, \\w
characters only, concatenated, character 4-grams, counted); `word3` = Simhash(list of word
3-shingles after lowercase + \\w+ tokens). 64-bit fingerprints. For each article:
index.get_near_dups() for earlier articles within k bits, dup_of = the earliest of them, then
index.add(). Timed (printed to stderr as articles/s): feature extraction, Simhash, query and add of
every article; not interpreter start-up, imports, file reading, JSON parsing or output writing.
"""
import argparse
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_common import read_articles, report, word_shingles, words, write_results  # noqa: E402

from simhash import Simhash, SimhashIndex  # noqa: E402


class _BigBuckets(logging.Handler):
    """Counts SimhashIndex's 'Big bucket found' warnings instead of printing one per lookup."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record):
        self.count += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", default="-")
    ap.add_argument("--output", default="-")
    ap.add_argument("--k", type=int, default=3, help="Hamming radius (SimhashIndex k)")
    ap.add_argument("--features", choices=["default", "word3"], default="default")
    args = ap.parse_args()

    log = logging.getLogger("simhash-peer")
    log.propagate = False
    big = _BigBuckets()
    log.addHandler(big)

    articles = read_articles(args.input)
    ids = [a for a, _ in articles]
    dup_index = [-1] * len(articles)

    start = time.perf_counter()
    index = SimhashIndex([], f=64, k=args.k, log=log)
    for i, (_, body) in enumerate(articles):
        if args.features == "word3":
            h = Simhash(word_shingles(words(body), 3), log=log)
        else:
            h = Simhash(body, log=log)
        near = index.get_near_dups(h)
        if near:
            dup_index[i] = min(int(x) for x in near)
        index.add(str(i), h)
    seconds = time.perf_counter() - start

    setting = f"k={args.k} features={args.features}"
    if big.count:
        setting += f" (SimhashIndex warned 'Big bucket' {big.count} times)"
    report("simhash_peer", setting, len(ids), seconds, "features+Simhash+index query+add")
    write_results(args.output, ids, dup_index)


if __name__ == "__main__":
    main()
