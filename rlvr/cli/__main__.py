"""`python -m rlvr.cli ...`, as `accelerate launch -m rlvr.cli train ...` needs."""

import sys

from rlvr.cli.main import main

sys.exit(main())
