import sys

from rm_training.cli import main

sys.exit(main())
