"""``python -m gyre.streaming``: run the stream consumer (what `gyre up` starts)."""

from gyre.streaming.cli import consume

if __name__ == "__main__":
    consume()
