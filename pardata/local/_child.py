"""Entry point of a local worker process: ``python -m pardata.local._child R W``."""
import sys

from pardata.local._process import _child_main

if __name__ == "__main__":
    _child_main(int(sys.argv[1]), int(sys.argv[2]))
