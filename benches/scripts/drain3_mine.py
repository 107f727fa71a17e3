#!/usr/bin/env python3
"""drain3's side of templates-vs-drain3.sh: mines the same lines as
`aiops-eval logs`, times the mining loop in CPU seconds
(time.process_time, i.e. getrusage user + system of this process), and
writes LineId,TemplateId,Template so that `aiops-eval logs --score` judges
drain3 with the very same metric code as our miner.

Masking is set to match ours (aiops-engine/templates/src/mask.rs): UUIDs,
IPv4 with optional port, hex (0x... and runs of 8+ hex digits with a digit
and a letter), numbers (with sign, fraction, unit suffix). drain3 applies
them as regular expressions, in this order, before it tokenises.
"""
import argparse
import csv
import sys
import time

from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

# Boundaries: not inside a word of letters and digits, as our tokeniser's
# segments are.
B = r"(?<![A-Za-z0-9])"
E = r"(?![A-Za-z0-9])"
MASKS = [
    (B + r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}" + E, "UUID"),
    (B + r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?::\d{1,5})?" + E, "IP"),
    (B + r"(?:0[xX][0-9a-fA-F]+|(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,})" + E, "HEX"),
    (B + r"[-+]?\d+(?:\.\d+)*(?:[eE][-+]?\d+)?(?:[A-Za-z%]{1,6})?" + E, "NUM"),
]


def config(masking):
    cfg = TemplateMinerConfig()
    # drain3's defaults otherwise: depth 4, sim_th 0.4, max_children 100,
    # the same as our miner's.
    cfg.profiling_enabled = False
    if masking == "ours":
        cfg.masking_instructions = [MaskingInstruction(p, m) for p, m in MASKS]
    return cfg


def read_lines(args):
    if args.log:
        with open(args.log, encoding="utf-8", newline="") as f:
            text = f.read()
        if text.endswith("\n"):
            text = text[:-1]
        lines = [l[:-1] if l.endswith("\r") else l for l in text.split("\n")] if text else []
        ids = [str(i + 1) for i in range(len(lines))]
        return ids, lines
    with open(args.truth, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["LineId"] for r in rows], [r["Content"] for r in rows]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--log", help="raw log, one entry per line")
    src.add_argument("--truth", help="Loghub structured CSV: mine its Content column")
    p.add_argument("--out", help="write LineId,TemplateId,Template here")
    p.add_argument("--repeat", type=int, default=0, help="extra timed passes, fresh miner each")
    p.add_argument("--masking", choices=["ours", "none"], default="ours")
    args = p.parse_args()

    ids, lines = read_lines(args)
    cfg = config(args.masking)

    start = time.process_time()
    miner = TemplateMiner(config=cfg)
    clusters = [miner.add_log_message(l)["cluster_id"] for l in lines]
    for _ in range(args.repeat):
        m = TemplateMiner(config=cfg)
        for l in lines:
            m.add_log_message(l)
    used = time.process_time() - start
    timed = len(lines) * (1 + args.repeat)

    if args.out:
        by_id = {c.cluster_id: c.get_template() for c in miner.drain.clusters}
        with open(args.out, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["LineId", "TemplateId", "Template"])
            for line_id, cid in zip(ids, clusters):
                w.writerow([line_id, f"{cid:016x}", by_id.get(cid, "")])
    rate = timed / used if used > 0 else float("inf")
    print(f"drain3 {args.masking} masking: {timed} lines in {used:.4f} CPU-s: {rate:.0f} lines per CPU-second")


if __name__ == "__main__":
    sys.exit(main())
