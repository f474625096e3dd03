"""Write the five dashboards: into the repository, or elsewhere for a test thresholds file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools._repo import REPO
from tools.generate import write_outputs
from tools.grafana.dashboards import outputs
from tools.prometheus.thresholds import DEFAULT_PATH, ThresholdsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.grafana.dashboards", description=__doc__)
    parser.add_argument(
        "--thresholds", type=Path, default=DEFAULT_PATH, help="thresholds file to draw"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="folder for the JSON files (default: monitoring/grafana/dashboards/)",
    )
    args = parser.parse_args(argv)
    try:
        files = outputs(args.thresholds)
    except (ThresholdsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.out:
        files = {Path(path.name): text for path, text in files.items()}
    write_outputs(files, args.out or REPO)
    return 0


if __name__ == "__main__":
    sys.exit(main())
