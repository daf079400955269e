"""`python -m lvmgate ...` is the same as the `lvmgate` command."""

import sys

from lvmgate.cli import main

sys.exit(main())
