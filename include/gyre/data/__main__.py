"""``python -m gyre.data``: the same commands as ``gyre data``, for DVC stages and scripts."""

from gyre.data.cli import data

data(prog_name="python -m gyre.data")
