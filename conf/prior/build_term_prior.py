#!/usr/bin/env python3
"""Builds conf/prior/term_prior.tsv, storyd's shipped term-frequency prior.

  conf/prior/build_term_prior.sh   (creates a venv, installs the pinned wordfreq, runs this)

Each line is `term<TAB>zipf`: the term as storyd tokenizes it (NFKC, case
folded, one Unicode word) and its Zipf frequency (log10 of occurrences per
billion words), the highest over the main news languages. storyd turns it
into a prior inverse document frequency, so that from the first article
"antonov" outweighs "russia", and "russia" outweighs "said".
"""
import importlib.metadata
import math
import sys
import unicodedata

import wordfreq

# Language -> how many of its most frequent words to keep. Words past these
# ranks are rare (Zipf below about 2.5) and storyd treats unknown words as
# rare anyway.
LANGUAGES = {
    "en": 60000, "de": 25000, "es": 25000, "fr": 25000, "pt": 25000,
    "it": 25000, "nl": 15000, "ru": 25000, "uk": 10000, "pl": 15000,
    "tr": 10000, "ar": 15000, "zh": 10000, "ja": 10000, "sv": 10000,
}


def is_cjk(ch):
    code = ord(ch)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x3040 <= code <= 0x30FF
            or 0xF900 <= code <= 0xFAFF or 0x20000 <= code <= 0x2A6DF)


def is_single_token(term):
    """True when storyd's tokenizer reads `term` as exactly one token: a run
    of letters, digits and combining marks, or a single CJK character."""
    if not term:
        return False
    if any(is_cjk(ch) for ch in term):
        return len(term) == 1
    return all(unicodedata.category(ch)[0] in "LMN" for ch in term)


def main(path):
    best = {}
    for language, count in LANGUAGES.items():
        # The raw frequency list: no tokenizer (and none of the optional
        # Chinese/Japanese segmenters) is needed.
        frequencies = wordfreq.get_frequency_dict(language, wordlist="best")
        ranked = sorted(frequencies.items(), key=lambda item: (-item[1], item[0]))
        for word, frequency in ranked[:count]:
            term = unicodedata.normalize("NFKC", word).casefold()
            if not is_single_token(term) or frequency <= 0:
                continue
            zipf = math.log10(frequency) + 9.0
            if zipf > best.get(term, 0.0):
                best[term] = zipf
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write("# storyd term prior: term<TAB>zipf, built by conf/prior/build_term_prior.py\n")
        out.write("# from wordfreq %s; see conf/prior/LICENSE.md\n" % importlib.metadata.version("wordfreq"))
        for term in sorted(best):
            out.write("%s\t%.2f\n" % (term, best[term]))
    print("wrote %d terms to %s" % (len(best), path), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "term_prior.tsv")
