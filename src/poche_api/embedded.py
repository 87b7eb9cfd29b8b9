"""The embedded default: a private PostgreSQL cluster from the pgserver wheel, kept in data_dir."""

import logging
import warnings
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def start_embedded_postgres(data_dir: Path) -> tuple[str, Any]:
    """Start (or reuse) the cluster in ``data_dir/pgdata``; return its URL and a handle to keep.

    pgserver refuses to share one data folder between two different postmasters and reuses a
    running one, so serve, worker and CLI commands can all call this.
    """
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime dir it never uses; the fallback is harmless.
        warnings.simplefilter("ignore")
        from pgserver import get_server  # type: ignore[attr-defined]

    pgdata = (data_dir / "pgdata").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode=None)
    uri: str = server.get_uri()
    logger.info("embedded PostgreSQL ready in %s", pgdata)
    return uri, server
