"""The Spark wash engine: the same partition functions, run by Spark executors.

The session runs on any master (``local[*]``, ``spark://host:port``, ``k8s://...``). Python
workers run ``PYSPARK_PYTHON`` (this interpreter unless that variable is set), find the
project on ``PYTHONPATH`` and get the driver's Hugging Face offline/cache variables, so on a
remote cluster the project, its dependencies and the embedding model must be installed on
the workers as well. With a local or loopback master the driver binds to
127.0.0.1. The driver logs errors only. A session this engine creates is stopped on exit;
one that was already active in the process is reused and left running.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlparse

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_PASSED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME")
_LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = stderr
logger.repl.name = org.apache.spark.api.python.PythonGatewayServer
logger.repl.level = error
appender.console.type = Console
appender.console.name = stderr
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
"""


def is_loopback_master(master: str) -> bool:
    """Whether ``master`` runs on this machine (``local[...]`` or a loopback host)."""
    return master.startswith("local") or (urlparse(master).hostname or "") in _LOOPBACK


def session_conf(master: str, log_config: Path) -> dict[str, str]:
    """Spark settings of a wash session on ``master``, logging through ``log_config``."""
    python_path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)
    conf = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.executorEnv.PYTHONPATH": python_path,
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{log_config}",
    }
    conf.update({f"spark.executorEnv.{k}": os.environ[k] for k in _PASSED_ENV if k in os.environ})
    conf["spark.executorEnv.TOKENIZERS_PARALLELISM"] = os.environ.get(
        "TOKENIZERS_PARALLELISM", "false"
    )
    if is_loopback_master(master):
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.driver.bindAddress"] = "127.0.0.1"
    return conf


class _Partition:
    """Adapt a list-to-list function to Spark's iterator-to-iterable ``mapPartitions``."""

    def __init__(self, fn: Callable[[list[Any]], list[Any]]) -> None:
        self.fn = fn

    def __call__(self, rows: Any) -> list[Any]:
        return self.fn(list(rows))


class SparkEngine:
    """Run partition functions on a Spark cluster; use as a context manager.

    Args:
        master: Spark master URL (``settings.wash.spark_master``).
        app_name: Application name shown by the cluster.
    """

    name = "spark"

    def __init__(self, master: str, app_name: str = "data-alchemy-wash") -> None:
        self.master = master
        self.app_name = app_name
        self._session: Any = None
        self._owned = False
        self._log_dir: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> SparkEngine:
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            log.info("reusing the active Spark session on %s", active.sparkContext.master)
            self._session = active
            return self
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        self._log_dir = tempfile.TemporaryDirectory(prefix="wash-spark-")
        log_config = Path(self._log_dir.name) / "log4j2.properties"
        log_config.write_text(_LOG4J2, encoding="utf-8")
        builder = SparkSession.builder.master(self.master).appName(self.app_name)
        for key, value in session_conf(self.master, log_config).items():
            builder = builder.config(key, value)
        self._owned = True
        self._session = builder.getOrCreate()
        self._session.sparkContext.setLogLevel("ERROR")
        log.info("started Spark session on %s", self.master)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._owned and self._session is not None:
            self._session.stop()
        if self._log_dir is not None:
            self._log_dir.cleanup()
        self._session = self._log_dir = None
        self._owned = False

    def map_partitions(self, fn: Callable[[list[T]], list[R]], items: Sequence[T]) -> list[R]:
        """Apply ``fn`` to slices of ``items`` on the executors; results keep the input order.

        Raises:
            RuntimeError: The engine is used outside its ``with`` block.
        """
        if self._session is None:
            raise RuntimeError("SparkEngine must be used inside a `with` block")
        if not items:
            return []
        context = self._session.sparkContext
        slices = max(1, min(len(items), 2 * context.defaultParallelism))
        return context.parallelize(list(items), slices).mapPartitions(_Partition(fn)).collect()
