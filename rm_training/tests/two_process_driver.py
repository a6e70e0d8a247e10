"""Runs several ``python -m rm_training train`` commands in one ``accelerate launch`` (one process group,
no second start-up): ``accelerate launch --cpu --num_processes 2 two_process_driver.py RUNS.json``
where RUNS.json holds a list of argv lists. Exits non-zero at the first run that fails."""

import json
import sys

from rm_training.cli import main
from rm_training.distributed import process_group_close

if __name__ == "__main__":
    for argv in json.loads(open(sys.argv[1]).read()):
        code = main(argv)
        if code:
            sys.exit(code)
    process_group_close()
