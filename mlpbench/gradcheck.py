"""``python -m mlpbench.gradcheck``: the command of ``mlpbench.studies.gradcheck_study``.

The study lives with the others in ``mlpbench.studies``; this name stays the command that the
Makefile, the docs and the reports cite.
"""

import sys

from mlpbench.studies.gradcheck_study import main

if __name__ == "__main__":
    sys.exit(main())
