"""Reading a workbench page as its script does: the assignment's state is a JSON payload, not checked radios."""

import json
import re


def workbench_state(page: str) -> dict:
    """The page's `workbench-state` payload: {"values": {field: value}, "missing": [codes]}."""
    match = re.search(r'<script id="workbench-state" type="application/json">(.*?)</script>', page, re.S)
    assert match, "the workbench page carries its state as JSON"
    return json.loads(match.group(1))
