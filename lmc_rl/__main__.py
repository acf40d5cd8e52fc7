import sys

from lmc_rl.cli import main

sys.exit(main())
