"""Entry point: python -m benchmarks NAME [options]."""

from __future__ import annotations

import sys

from . import backtest, forecast, latency

BENCHMARKS = {
    "backtest": backtest.main,
    "forecast": forecast.main,
    "latency": latency.main,
}


def main() -> None:
    """Run the benchmark named first on the command line."""
    if len(sys.argv) < 2 or sys.argv[1] not in BENCHMARKS:
        sys.exit(f"usage: ./scripts/bench {{{','.join(BENCHMARKS)}}} [options]")
    try:
        BENCHMARKS[sys.argv[1]](sys.argv[2:])
    except (OSError, ValueError) as error:
        # A wrong file, column, date or battery figure: say which, without a traceback.
        sys.exit(f"./scripts/bench {sys.argv[1]}: {error}")


if __name__ == "__main__":
    main()
