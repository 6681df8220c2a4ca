#!/usr/bin/env python3
"""Run the written-corpus checker without installing the project (see training/written_format.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from written_format import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
