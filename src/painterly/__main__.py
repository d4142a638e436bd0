"""``python -m painterly``: the same as the ``painterly`` command."""

from painterly.cli import main

if __name__ == "__main__":
    main()
