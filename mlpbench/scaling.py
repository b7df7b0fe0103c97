"""``python -m mlpbench.scaling``: the command of ``mlpbench.studies.scaling_study``.

The study lives with the others in ``mlpbench.studies``; this name stays the command that the
Makefile, the docs and the reports cite.
"""

import sys

from mlpbench.studies.scaling_study import main

if __name__ == "__main__":
    sys.exit(main())
