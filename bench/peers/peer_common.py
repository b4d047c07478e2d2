"""Shared I/O and normalization for the peer benchmarks (datasketch_peer.py, simhash_peer.py).

Both peers run ONLINE in file order, like `storyd dedup`: for each article, query the index for
earlier near-duplicates, take the earliest matched one as `dup_of`, then insert the article.
`story_id` is the story of the `dup_of` article (which is its copy root's story), else the
article's own id: copy clusters are the only stories these libraries can give.
"""
import json
import re
import sys

WORD_RE = re.compile(r"\w+")


def words(text):
    """The normalization a user of these libraries would write: lowercase, word tokens."""
    return WORD_RE.findall(text.lower())


def word_shingles(tokens, n=3):
    """Word n-shingles as strings; texts with fewer than n words give one shingle of all words."""
    if len(tokens) < n:
        return [" ".join(tokens)]
    return [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def read_articles(path):
    """(id as str, body) for every JSON Lines record; `text` is accepted for `body` like storyd."""
    out = []
    opener = sys.stdin if path in (None, "-") else open(path, encoding="utf-8")
    with opener as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            body = rec.get("body", rec.get("text"))
            out.append((str(rec["id"]), body))
    return out


def write_results(path, ids, dup_index):
    """dup_index[i] is the index of the earlier article i copies, or -1."""
    story = [None] * len(ids)
    lines = []
    for i, art_id in enumerate(ids):
        j = dup_index[i]
        story[i] = story[j] if j >= 0 else art_id
        lines.append(json.dumps({"id": art_id, "dup_of": ids[j] if j >= 0 else None,
                                 "story_id": story[i]}))
    data = "\n".join(lines) + "\n"
    if path in (None, "-"):
        sys.stdout.write(data)
    else:
        with open(path, "w", encoding="utf-8") as f:
            f.write(data)


def report(tool, setting, n, seconds, what):
    rate = n / seconds if seconds > 0 else 0.0
    print(f"{tool}: {n} articles, {setting}, {seconds:.3f} s processing ({what}), "
          f"{rate:.0f} articles/s", file=sys.stderr)
