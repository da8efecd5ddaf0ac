"""Reading JSON-lines files for the bench scripts. Standard library only.

A bench script imports it after putting this folder on its path, so the
import works from any working directory:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
    from json_lines import records
"""
import json


def records(path):
    """Yields each line of `path` that is a JSON object, as a dict, in file
    order. Other lines (a log line, a line cut short by a run stopped while
    writing it, a bare number) are skipped."""
    with open(path) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if isinstance(r, dict):
                yield r
