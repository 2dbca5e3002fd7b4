"""`python -m storyterm` runs the same command line as the `storyterm` script."""

from storyterm.cli import main

if __name__ == "__main__":
    main()
