"""Cut the bundled sample from the shared real-data folder (maintainers only; not imported by the package).

Usage, from the repository root::

    python -m quantray.data._make_sample ../shared/data

It reads the CC0 S&P 500 daily panel and the ODC-PDDL constituents file, keeps the 20 tickers of
``SAMPLE_SYMBOLS`` over the full range, rows and values untouched (real defects included), and writes
``quantray/data/sample/sp500_sample.parquet`` (zstd) and ``sectors.csv``, then prints their sha256 for
``PROVENANCE.md``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from quantray.data._sample import SAMPLE_SYMBOLS

PANEL = Path("equities") / "sp500_daily_2013-02-08_2018-02-07.parquet"
CONSTITUENTS = Path("equities") / "sp500_constituents_financials_2018-02-08.csv"
OUT = Path(__file__).resolve().parent / "sample"


def make_sample(shared_data: Path, out_dir: Path = OUT) -> dict[str, str]:
    """Write the two sample files into ``out_dir`` and return ``{file name: sha256}``."""
    table = pq.read_table(shared_data / PANEL)
    mask = pc.is_in(table["ticker"], value_set=pa.array(SAMPLE_SYMBOLS))  # type: ignore[attr-defined]
    sample = table.filter(mask).replace_schema_metadata(None)  # source row order, values and types unchanged
    missing = set(SAMPLE_SYMBOLS) - set(sample["ticker"].unique().to_pylist())
    if missing:
        raise SystemExit(f"tickers missing from the panel: {sorted(missing)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(sample, out_dir / "sp500_sample.parquet", compression="zstd", compression_level=19)

    with open(shared_data / CONSTITUENTS, newline="", encoding="utf-8") as fh:
        rows = {r["Symbol"]: r for r in csv.DictReader(fh)}
    with open(out_dir / "sectors.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["Symbol", "Name", "Sector"])
        for sym in sorted(SAMPLE_SYMBOLS):
            writer.writerow([sym, rows[sym]["Name"], rows[sym]["Sector"]])
    return {
        name: hashlib.sha256((out_dir / name).read_bytes()).hexdigest()
        for name in ("sp500_sample.parquet", "sectors.csv")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared_data", type=Path, help="the shared real-data folder (../shared/data)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    for name, digest in make_sample(args.shared_data, args.out).items():
        print(f"{digest}  {name}")


if __name__ == "__main__":
    main()
