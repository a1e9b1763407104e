"""``python -m tpmcard.cli``, the same as the ``tpmcard`` command."""

from tpmcard.cli import main

main()
