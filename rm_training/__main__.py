import sys

from rm_training.cli import main
from rm_training.distributed import process_group_close

exit_code = main()
# Under `accelerate launch` every process ends here: leave the process group before the interpreter exits.
process_group_close(wait=exit_code == 0)
sys.exit(exit_code)
