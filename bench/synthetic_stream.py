"""A synthetic article stream for the long-run benchmarks, on stdout.

Each article is 15 random sentences of the dev corpora (realistic
vocabulary, new texts all the time); a share of them are copies of one of
the 200 most recent originals with three words changed. Deterministic for
a given seed.

Usage: synthetic_stream.py ARTICLES DATA_DIR [COPY_SHARE=0.3] [SEED=7]
"""
import json
import random
import re
import sys


def main():
    n, data = int(sys.argv[1]), sys.argv[2]
    copy_share = float(sys.argv[3]) if len(sys.argv) > 3 else 0.3
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 7)
    sentences = []
    for name in ("ecbplus", "neardup"):
        for line in open(f"{data}/{name}.jsonl"):
            body = json.loads(line)["body"]
            sentences += [s for s in re.split(r"(?<=[.!?])\s+", body)
                          if len(s.split()) > 5]
    recent = []
    for i in range(n):
        if recent and rng.random() < copy_share:
            words = rng.choice(recent).split()
            for _ in range(3):
                words[rng.randrange(len(words))] = rng.choice(words)
            body = " ".join(words)
        else:
            body = "\n".join(rng.sample(sentences, 15))
            recent.append(body)
            recent = recent[-200:]
        print(json.dumps({"id": f"a{i}", "body": body}))


if __name__ == "__main__":
    main()
