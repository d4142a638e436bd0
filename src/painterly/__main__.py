"""``python -m painterly``: the same as the ``painterly`` command."""

import sys

try:
    from painterly.cli import main
except KeyboardInterrupt:  # Ctrl-C while torch is still importing: one line, no traceback
    sys.stderr.write("painterly: interrupted\n")
    sys.exit(130)

if __name__ == "__main__":
    main()
