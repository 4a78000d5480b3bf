"""``bentoml serve`` with its process manager's control sockets on Unix sockets instead of TCP ports.

BentoML 1.4 supervises its workers with a circus arbiter whose controller and pub/sub endpoints are TCP
ports on 127.0.0.1, picked at random, with no setting to move or close them. Anyone on the host who reaches
the controller can stop the workers or have circus start a command of their own as the serving user. This
entry point runs BentoML's own CLI unchanged, except that the arbiter gets ZeroMQ ``ipc://`` endpoints in a
private directory (mode 0700), which only the serving user can connect to.

Run it as ``python -m gyre.services.bento_serve serve <bentoml serve arguments>``.
"""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

CONTROL_SOCKET = "circus-control.sock"
PUBSUB_SOCKET = "circus-pubsub.sock"


def arbiter_on_unix_sockets(control_dir: Path) -> Callable[..., Any]:
    """A stand-in for BentoML's ``create_standalone_arbiter`` that binds no TCP port."""
    from bentoml._internal.utils import circus

    def create(watchers: list[Any], *, threaded: bool = False, **kwargs: Any) -> Any:
        arbiter_cls = circus.ThreadedArbiter if threaded else circus.Arbiter
        return arbiter_cls(
            watchers,
            endpoint=f"ipc://{control_dir / CONTROL_SOCKET}",
            pubsub_endpoint=f"ipc://{control_dir / PUBSUB_SOCKET}",
            # BentoML's own value: circus' default health-check delay races its workers' start-up.
            check_delay=kwargs.pop("check_delay", 10),
            **kwargs,
        )

    return create


def main() -> None:
    from bentoml._internal.utils import circus
    from bentoml_cli.cli import cli

    # A short path under the temp dir: a Unix socket path may hold ~107 bytes, a project's home may not fit.
    control_dir = Path(tempfile.mkdtemp(prefix="gyre-bentoml-"))
    atexit.register(shutil.rmtree, control_dir, ignore_errors=True)
    # BentoML imports the factory inside its serve function, so replacing the module attribute reaches it.
    circus.create_standalone_arbiter = arbiter_on_unix_sockets(control_dir)
    sys.exit(cli(prog_name="bentoml"))


if __name__ == "__main__":
    main()
