#!/usr/bin/env python3
"""The converter from a multi-hop QA set (HotpotQA layout) to the scenario
data format documented in tests/scenario/README.md, and its loader.

    python3 tests/scenario/qa.py DATA_DIR OUT.json [--limit N]

DATA_DIR holds NAME.json (a list of questions with supporting_facts) and
NAME_corpus.json (title -> list of sentences). Python standard library only."""
import argparse
import json
import os
import sys

FORMAT_VERSION = 1


class FormatError(Exception):
    """The input is not a QA set this converter understands."""


def find_set(data_dir):
    """(questions path, corpus path): the one NAME.json with a NAME_corpus.json."""
    try:
        names = sorted(os.listdir(data_dir))
    except OSError as e:
        raise FormatError("cannot read %s: %s" % (data_dir, e.strerror))
    pairs = []
    for n in names:
        if n.endswith(".json") and not n.endswith("_corpus.json"):
            corpus = n[:-len(".json")] + "_corpus.json"
            if corpus in names:
                pairs.append((os.path.join(data_dir, n), os.path.join(data_dir, corpus)))
    if len(pairs) != 1:
        raise FormatError("%s: expected exactly one NAME.json with a NAME_corpus.json, found %d"
                          % (data_dir, len(pairs)))
    return pairs[0]


def paragraph_text(sentences):
    # The set's sentence splitter keeps the separating space at the start of
    # the next sentence ("A.", " B."), and a few splits fall inside a word or
    # a quotation: joining with "" restores the original paragraph exactly.
    return "".join(sentences)


def decomposition(q):
    """Sub-questions from a set that has decompositions (MuSiQue's
    question_decomposition, or a plain list under decomposition), else None."""
    d = q.get("question_decomposition", q.get("decomposition"))
    if not isinstance(d, list) or not d:
        return None
    out = []
    for step in d:
        text = step.get("question") if isinstance(step, dict) else step
        if not isinstance(text, str) or not text.strip():
            return None
        out.append(text.strip())
    return out


def convert_question(q, corpus, index):
    where = "question %d" % index
    for key in ("question", "answer", "supporting_facts"):
        if key not in q:
            raise FormatError("%s: no %r" % (where, key))
    qid = str(q.get("_id", q.get("id", index)))
    gold, by_title = [], {}
    for fact in q["supporting_facts"]:
        if not (isinstance(fact, list) and len(fact) == 2 and isinstance(fact[0], str)
                and isinstance(fact[1], int)):
            raise FormatError("%s (%s): bad supporting fact %r" % (where, qid, fact))
        title, sent = fact
        if title not in corpus:
            raise FormatError("%s (%s): supporting title %r is not in the corpus" % (where, qid, title))
        sentences = corpus[title]
        if not 0 <= sent < len(sentences):
            raise FormatError("%s (%s): %r has no sentence %d" % (where, qid, title, sent))
        if title not in by_title:
            by_title[title] = {"title": title, "text": paragraph_text(sentences), "support": []}
            gold.append(by_title[title])
        s = sentences[sent].strip()
        if s and s not in by_title[title]["support"]:
            by_title[title]["support"].append(s)
    subs = decomposition(q) or [g["title"] for g in gold]
    return {"id": qid, "question": q["question"].strip(), "answer": str(q["answer"]),
            "subquestions": subs, "gold": gold}


def convert(data_dir, limit=None):
    """The data file (a dict) for the QA set in data_dir."""
    qpath, cpath = find_set(data_dir)
    try:
        with open(qpath, encoding="utf-8") as f:
            questions = json.load(f)
        with open(cpath, encoding="utf-8") as f:
            corpus = json.load(f)
    except (OSError, ValueError) as e:
        raise FormatError("cannot load the QA set: %s" % e)
    if not isinstance(questions, list):
        raise FormatError("%s: expected a list of questions" % qpath)
    if not isinstance(corpus, dict) or not all(
            isinstance(v, list) and all(isinstance(s, str) for s in v) for v in corpus.values()):
        raise FormatError("%s: expected an object title -> list of sentences" % cpath)
    if limit is not None:
        questions = questions[:limit]
    out_q = [convert_question(q, corpus, i) for i, q in enumerate(questions)]
    ids = [q["id"] for q in out_q]
    if len(set(ids)) != len(ids):
        raise FormatError("question ids are not unique")
    out_c = [{"title": t, "text": paragraph_text(s)} for t, s in corpus.items()
             if paragraph_text(s).strip()]
    return {"version": FORMAT_VERSION, "questions": out_q, "corpus": out_c}


def load(path):
    """A data file, checked against the format (FormatError when it is not)."""
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        raise FormatError("%s: %s" % (path, e))
    if not isinstance(d, dict) or d.get("version") != FORMAT_VERSION:
        raise FormatError("%s: not a version %d scenario data file" % (path, FORMAT_VERSION))
    if not isinstance(d.get("questions"), list) or not isinstance(d.get("corpus"), list):
        raise FormatError("%s: questions and corpus must be lists" % path)
    for p in d["corpus"]:
        if not (isinstance(p, dict) and isinstance(p.get("title"), str)
                and isinstance(p.get("text"), str)):
            raise FormatError("%s: a corpus entry needs title and text strings" % path)
    for q in d["questions"]:
        if not (isinstance(q, dict) and all(isinstance(q.get(k), str) for k in ("id", "question", "answer"))
                and isinstance(q.get("subquestions"), list) and isinstance(q.get("gold"), list)):
            raise FormatError("%s: a question needs id, question, answer, subquestions, gold" % path)
        for g in q["gold"]:
            if not (isinstance(g, dict) and isinstance(g.get("title"), str)
                    and isinstance(g.get("text"), str) and isinstance(g.get("support"), list)):
                raise FormatError("%s: question %s: bad gold paragraph" % (path, q["id"]))
    return d


def main(argv):
    ap = argparse.ArgumentParser(description="Convert a multi-hop QA set to the scenario data format.")
    ap.add_argument("data_dir")
    ap.add_argument("out")
    ap.add_argument("--limit", type=int, default=None, help="first N questions only")
    a = ap.parse_args(argv)
    if a.limit is not None and a.limit < 1:
        print("qa.py: --limit must be at least 1", file=sys.stderr)
        return 2
    try:
        d = convert(a.data_dir, a.limit)
    except FormatError as e:
        print("qa.py: %s" % e, file=sys.stderr)
        return 1
    tmp = a.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(d, f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(tmp, a.out)
    print("%s: %d questions, %d corpus paragraphs" % (a.out, len(d["questions"]), len(d["corpus"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
