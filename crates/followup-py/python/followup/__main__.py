"""``python -m followup``: the tutorial's two follow-up programs on followup's ThreadPool."""

import argparse
import sys

from ._demo import Demo


def _positive_int(text: str) -> int:
    n = int(text)
    if not 1 <= n <= 100_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 100000, got {n}")
    return n


def _scale(text: str) -> float:
    s = float(text)
    if not 0.0 <= s <= 60.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 60 seconds, got {s}")
    return s


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m followup",
        description="Run the tutorial's follow-up programs on followup.ThreadPool.",
    )
    parser.add_argument("pattern", nargs="?", default="both",
                        choices=["manual", "callback", "both"],
                        help="which program to run (default: both)")
    parser.add_argument("--tasks", type=_positive_int, default=10,
                        help="first-round tasks (default 10)")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="a result above it gets a follow-up (default 0.5)")
    parser.add_argument("--time-scale", type=_scale, default=1.0,
                        help="seconds of sleep per unit of random value (default 1; 0 = no sleep)")
    parser.add_argument("--seed", type=int, default=None, help="seed the random values")
    parser.add_argument("--workers", type=_positive_int, default=None,
                        help="worker threads (default: os.cpu_count())")
    args = parser.parse_args(argv)
    demo = Demo(args.tasks, args.threshold, args.time_scale, args.seed, args.workers)
    if args.pattern in ("manual", "both"):
        print("# manual: imap_unordered, then apply_async follow-ups", flush=True)
        demo.manual()
    if args.pattern in ("callback", "both"):
        print("# callback: map_async whose callback issues the follow-ups", flush=True)
        demo.callback()
    return 0


if __name__ == "__main__":
    sys.exit(main())
