"""`python -m hexlake` runs the CLI."""

from hexlake.cli import main

main()
