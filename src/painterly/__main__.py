"""``python -m painterly``: the same as the ``painterly`` command."""

import sys

try:
    from painterly.cli import main
except KeyboardInterrupt:  # Ctrl-C while torch is still importing: no traceback
    sys.exit(130)

if __name__ == "__main__":
    main()
