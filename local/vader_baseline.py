#!/usr/bin/env python3
"""VADER's score on the UCI sentiment sentences, the baseline the issue names for sentiment.

    python -m venv /tmp/vader && /tmp/vader/bin/pip install vaderSentiment==3.3.2 requests
    /tmp/vader/bin/python local/vader_baseline.py [--data ../shared/data/uci_sentiment]

Compare with `helpdesk-ai sentiment-eval` on the same 3,000 sentences (README). VADER is scored
as its authors use it (compound >= 0.05 positive, <= -0.05 negative, neutral between, which is
wrong on this two-class set) and forced to two classes (compound >= 0 positive).
"""

import argparse
import pathlib

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data/uci_sentiment")
    root = pathlib.Path(parser.parse_args().data)
    rows = []
    for path in sorted(root.glob("*_labelled.txt")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            text, _, label = line.rpartition("\t")
            if label.strip() in ("0", "1"):
                rows.append((text.strip(), int(label)))
    if not rows:
        raise SystemExit(f"no *_labelled.txt sentences in {root}")
    vader = SentimentIntensityAnalyzer()
    compounds = [(vader.polarity_scores(text)["compound"], label) for text, label in rows]
    forced = sum((c >= 0) == bool(label) for c, label in compounds) / len(rows)
    banded = sum((c >= 0.05 and label == 1) or (c <= -0.05 and label == 0) for c, label in compounds) / len(rows)
    neutral = sum(-0.05 < c < 0.05 for c, _ in compounds)
    print(f"VADER on {len(rows)} UCI sentences: {forced:.1%} forced to two classes, "
          f"{banded:.1%} with its neutral band ({neutral} called neutral)")


if __name__ == "__main__":
    main()
