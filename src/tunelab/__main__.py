"""``python -m tunelab``: the ``tunelab`` command, for an environment whose scripts are not on PATH."""

from tunelab.cli import main

if __name__ == "__main__":
    main()
