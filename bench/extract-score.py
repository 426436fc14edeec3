#!/usr/bin/env python3
"""Score article-body predictions with the article-extraction-benchmark
metric: tokens are \\w+ runs, 4-gram shingles counted with multiplicity,
per-page TP/FP/FN normalised by their sum, precision and recall averaged
over pages, F1 from the two means. Standard library only."""
import argparse
import json
import re
import sys
from collections import Counter

TOKEN_RE = re.compile(r'\w+', re.UNICODE)


def shingles(text, n=4):
    tokens = TOKEN_RE.findall(text or '')
    # Texts shorter than n tokens are one shingle of what there is.
    return Counter(tuple(tokens[i:i + n]) for i in range(max(1, len(tokens) - n + 1))
                   if tokens[i:i + n])


def page_score(true, pred):
    t, p = shingles(true), shingles(pred)
    tp = fp = fn = 0
    for key in set(t) | set(p):
        tc, pc = t.get(key, 0), p.get(key, 0)
        tp += min(tc, pc)
        fp += max(0, pc - tc)
        fn += max(0, tc - pc)
    s = tp + fp + fn
    if s > 0:
        tp, fp, fn = tp / s, fp / s, fn / s
    return tp, fp, fn


def evaluate(truth, preds):
    scores = {}
    for key in sorted(truth):
        pred = preds.get(key, {}).get('articleBody', '')
        scores[key] = page_score(truth[key].get('articleBody', ''), pred)
    ps = [tp / (tp + fp) for tp, fp, fn in scores.values() if tp + fp > 0]
    rs = [tp / (tp + fn) for tp, fp, fn in scores.values() if tp + fn > 0]
    p = sum(ps) / len(ps) if ps else 0.0
    r = sum(rs) / len(rs) if rs else 0.0
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return f1, p, r, scores


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('ground_truth')
    ap.add_argument('predictions')
    ap.add_argument('--per-page', action='store_true',
                    help='also print per-page precision and recall, worst first')
    a = ap.parse_args()
    with open(a.ground_truth, encoding='utf-8') as f:
        truth = json.load(f)
    with open(a.predictions, encoding='utf-8') as f:
        preds = json.load(f)
    missing = set(truth) - set(preds)
    if missing:
        print(f'warning: {len(missing)} pages have no prediction', file=sys.stderr)
    f1, p, r, scores = evaluate(truth, preds)
    if a.per_page:
        rows = []
        for key, (tp, fp, fn) in scores.items():
            pp = tp / (tp + fp) if tp + fp else 0.0
            rr = tp / (tp + fn) if tp + fn else 0.0
            rows.append((min(pp, rr), pp, rr, key))
        for _, pp, rr, key in sorted(rows):
            print(f'{pp:.3f} {rr:.3f} {key} {truth[key].get("url", "")}')
    print(f'F1 {f1:.4f} P {p:.4f} R {r:.4f}')


if __name__ == '__main__':
    main()
