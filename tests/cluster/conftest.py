"""Fixtures of the cluster tests: one 3-node NATS cluster per module (starting one takes about 1 s,
a node killed and restarted about 10 s), with each test on a topic root of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.clusters import NatsCluster, start_nats_cluster


@pytest.fixture(scope="module")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """A ready 3-node cluster shared by a module's tests; a test that kills a node restarts it."""
    with start_nats_cluster(tmp_path_factory.mktemp("nats")) as cluster:
        yield cluster
