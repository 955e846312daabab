"""``python -m cas_conformance``: the ``cas-conformance`` command (``cli``)."""

import sys

from cas_conformance.cli import main

if __name__ == "__main__":
    sys.exit(main())
