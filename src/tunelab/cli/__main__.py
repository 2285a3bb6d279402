"""``python -m tunelab.cli``: what the worker processes of ``tunelab run --workers`` are started as."""

from tunelab.cli import main

main()
