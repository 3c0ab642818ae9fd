"""Console-script entry point."""

from __future__ import annotations

from picops.cli.app import app


def main() -> None:
    app(prog_name="picops")


if __name__ == "__main__":
    main()
