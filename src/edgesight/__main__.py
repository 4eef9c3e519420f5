"""`python -m edgesight` = the `edgesight` command."""

from edgesight.cli import main

main()
