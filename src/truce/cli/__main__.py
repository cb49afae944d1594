"""``python -m truce.cli``."""

from truce.cli import main

main()
