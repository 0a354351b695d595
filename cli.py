"""Run sanitize from a checkout: `python cli.py run samples -o out`."""

from sanitize.cli import main

if __name__ == "__main__":
    main()
