"""`python -m sra_rag.eval`: the evaluation command (same as `sra-rag eval`)."""

import sys

from .longprompt.command import main

sys.exit(main())
