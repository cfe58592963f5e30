"""scikit-learn baseline for bench/lookalike.mjs.

Reads a JSON job on stdin: {"csv": path, "drop": [...], "label": "y", "trials": [{"seeds": [row, ...]}]}
(rows counted from 0 after the header).
Per trial it trains LogisticRegression(class_weight="balanced") on one-hot categoricals plus
standardised numerics, seeds as positives and every other row (the candidates, hidden label unseen)
as negatives, exactly the task the lookalike model gets, and prints the candidates' scores in row
order as JSON. Metrics are computed by the caller with the same functions as for our model.
"""
import csv
import json
import sys

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def main():
    job = json.load(sys.stdin)
    with open(job["csv"], newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    keep = [j for j, h in enumerate(header) if h not in job.get("drop", []) and h != job["label"]]
    columns = np.array([[row[j] for j in keep] for row in rows], dtype=object)
    numeric = [k for k in range(len(keep)) if all(is_number(v) for v in columns[:, k])]
    categorical = [k for k in range(len(keep)) if k not in numeric]
    data = np.empty(columns.shape, dtype=object)
    data[:, categorical] = columns[:, categorical]
    data[:, numeric] = columns[:, numeric].astype(float)
    out = []
    for trial in job["trials"]:
        is_seed = np.zeros(len(data), dtype=bool)
        is_seed[trial["seeds"]] = True
        model = make_pipeline(
            ColumnTransformer([
                ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
                ("num", StandardScaler(), numeric),
            ]),
            LogisticRegression(class_weight="balanced", max_iter=1000),
        )
        model.fit(data, is_seed.astype(int))
        scores = model.predict_proba(data[~is_seed])[:, 1]
        out.append({"scores": scores.tolist()})
    names = [header[j] for j in keep]
    json.dump({"categorical": [names[k] for k in categorical], "numeric": [names[k] for k in numeric], "trials": out}, sys.stdout)


def is_number(value):
    try:
        float(value)
        return True
    except ValueError:
        return False


if __name__ == "__main__":
    main()
