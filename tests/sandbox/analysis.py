# A small analysis of the kind the research loop writes: parse a CSV, clean
# a column with a regex, summary statistics, JSON out; numpy where it is
# installed. Run unchanged inside researchd-sandbox by test-sandbox.c.
import csv
import io
import json
import re
import statistics

DATA = """city,temp
Reykjavik, 2 C
Oslo,4C
Helsinki, 4 C
Tallinn,4 C
Riga,5C
Vilnius, 5 C
Warsaw,7 C
Berlin,9 C
"""

rows = list(csv.DictReader(io.StringIO(DATA)))
temps = [int(re.match(r"\s*(-?\d+)\s*C", r["temp"]).group(1)) for r in rows]
out = {
    "n": len(temps),
    "mean": statistics.mean(temps),
    "median": statistics.median(temps),
    "pstdev": statistics.pstdev(temps),
    "mode": statistics.mode(temps),
}
try:
    import numpy as np
    a = np.array(temps, dtype=float)
    out["numpy"] = {"mean": float(a.mean()), "dot": float(np.dot([1, 2, 3], [4, 5, 6])),
                    "solve": [float(x) for x in np.linalg.solve([[2, 1], [1, 3]], [3, 5])]}
except ImportError:
    out["numpy"] = None
with open("out/summary.json", "w") as f:
    json.dump(out, f, sort_keys=True)
print(json.dumps(out, sort_keys=True))
