#!/usr/bin/python3
"""Peer for bench/extract: Debian's python3-readability on the same pages,
timed in-process (Document(html).summary() and its text; reading and
gunzipping the files are not timed). Writes predictions as JSON."""
import gzip
import json
import sys
import time

try:
    import lxml.html
    from readability import Document
except ImportError:
    print('python3-readability is not installed (apt-get install python3-readability)',
          file=sys.stderr)
    sys.exit(3)

BLOCKS = ('p', 'div', 'br', 'li', 'ul', 'ol', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
          'tr', 'td', 'th', 'table', 'pre', 'blockquote', 'section', 'article',
          'figure', 'figcaption', 'dd', 'dt', 'header', 'footer')


def summary_text(html):
    summary = Document(html).summary()
    root = lxml.html.fromstring(summary)
    # Block boundaries separate words, as they do on screen.
    for el in root.iter(*BLOCKS):
        el.tail = '\n' + (el.tail or '')
    return root.text_content()


def main():
    if len(sys.argv) < 3:
        print(f'usage: {sys.argv[0]} DATA_DIR OUT.json [REPEAT]', file=sys.stderr)
        return 2
    data, out = sys.argv[1], sys.argv[2]
    repeat = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    with open(f'{data}/ground-truth.json', encoding='utf-8') as f:
        truth = json.load(f)
    pages = {}
    for key in truth:
        with gzip.open(f'{data}/html/{key}.html.gz', 'rb') as f:
            pages[key] = f.read()
    best = best_cpu = None
    preds = {}
    failed = 0
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        for key, html in pages.items():
            try:
                text = summary_text(html)
            except Exception:  # a page readability cannot handle scores 0
                text = ''
                failed += 1
            preds[key] = {'articleBody': text}
        t, cpu = time.perf_counter() - t0, time.process_time() - c0
        best = t if best is None or t < best else best
        best_cpu = cpu if best_cpu is None or cpu < best_cpu else best_cpu
    with open(out, 'w', encoding='utf-8') as f:
        json.dump(preds, f, ensure_ascii=False)
    n = len(pages)
    print(f'pages {n} failed {failed // repeat} seconds {best:.4f} '
          f'ms_per_page {best * 1000 / n:.3f} pages_per_s {n / best:.1f} '
          f'cpu_ms_per_page {best_cpu * 1000 / n:.3f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
