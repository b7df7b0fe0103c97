"""``python -m mlpbench.quality``: the command of ``mlpbench.studies.quality_study``.

The study lives with the others in ``mlpbench.studies``; this name is the command that the
Makefile, the docs and the reports cite.
"""

import sys

from mlpbench.studies.quality_study import main

if __name__ == "__main__":
    sys.exit(main())
