"""``python -m imatinib_tdm`` runs the command-line interface."""

from imatinib_tdm.cli import main

main()
