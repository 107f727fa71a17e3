"""Checks that `aiops eval rca --rcaeval-scoring` ranks as RCAEval itself does.

Runs RCAEval's own `baro` and `nsigma` (the `rcaeval` package from PyPI,
its code untouched) on every `<case>/data.csv` of a folder, with the
preprocessing of RCAEval's `main.py` (drop `_latency-50`, inf to NaN,
`ffill`, `fillna(0)`, 600 rows each side of the inject time), turns the
column ranking into a service ranking as its evaluator does (first
appearance of each `<service>_` prefix), and compares the top five with
the JSON lines of `aiops eval rca --rcaeval-scoring --method baro,nsigma`.

    pip install rcaeval==1.8.1 pandas scikit-learn tqdm
    aiops eval rca --cases DIR --method baro,nsigma --rcaeval-scoring > ours.jsonl
    python3 rcaeval_parity.py DIR ours.jsonl

Exits 1 when any ranking differs.
"""

import glob
import json
import os
import sys
import types
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")

# the wheel chooses its imports by Python version (3.10, 3.12, 3.14); on
# another version a stub saying 3.12 keeps it to the methods used here
if sys.version_info[:2] not in ((3, 10), (3, 12), (3, 14)):
    stub = types.ModuleType("RCAEval.utility")
    stub.is_py310 = lambda: False
    stub.is_py312 = lambda: True
    stub.is_py314 = lambda: False
    sys.modules["RCAEval.utility"] = stub
from RCAEval.e2e import baro, nsigma  # noqa: E402


def service_ranking(columns):
    services = []
    for column in columns:
        service = column.split("_")[0]
        if service not in services:
            services.append(service)
    return services


def main(cases_dir, ours_path):
    ours = {}
    for line in open(ours_path):
        entry = json.loads(line)
        if "case" in entry and "ranking" in entry:
            method = entry["method"].replace("-rcaeval", "")
            ours[(entry["case"], method)] = [r["service"] for r in entry["ranking"]]
    same = total = 0
    for data_path in sorted(glob.glob(os.path.join(cases_dir, "*/data.csv"))):
        case_dir = os.path.dirname(data_path)
        case = os.path.basename(case_dir)
        data = pd.read_csv(data_path)
        data = data.loc[:, ~data.columns.str.endswith("_latency-50")]
        data = data.replace([np.inf, -np.inf], np.nan).ffill().fillna(0)
        with open(os.path.join(case_dir, "inject_time.txt")) as f:
            inject = int(f.readline().strip())
        normal = data[data["time"] < inject].tail(600)
        anomal = data[data["time"] >= inject].head(600)
        data = pd.concat([normal, anomal], ignore_index=True)
        for name, method in (("baro", baro), ("nsigma", nsigma)):
            # any dataset name makes `preprocess` drop constant columns, as
            # in main.py's runs
            theirs = service_ranking(method(data, inject, dataset="re2-ob")["ranks"])[:5]
            mine = ours.get((case, name))
            total += 1
            if mine == theirs:
                same += 1
            else:
                print(f"{case} {name}: rcaeval {theirs}, ours {mine}")
    print(f"{same}/{total} top-5 service rankings identical")
    return 0 if same == total else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
