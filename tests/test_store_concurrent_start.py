"""Replicas starting at once on a new PostgreSQL database (a Kubernetes Deployment's
pods): every one opens the store, the tables are created once, at the current
version."""

import threading

import psycopg
from pg_cluster import postgres  # noqa: F401 - a fixture

from lepton_tf.store import ConversationStore, schema

REPLICAS = 6


def test_replicas_starting_together_on_a_new_database_all_open_it(postgres):
    for attempt in range(3):
        with psycopg.connect(postgres.url, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE fresh{attempt}")
        url = postgres.url.rsplit("/", 1)[0] + f"/fresh{attempt}"
        barrier, opened, failed = threading.Barrier(REPLICAS), [], []

        def start():
            barrier.wait()
            try:
                opened.append(ConversationStore.open(url))
            except Exception as e:  # noqa: BLE001 - the test reports it
                failed.append(e)

        threads = [threading.Thread(target=start) for _ in range(REPLICAS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        versions = [store.version() for store in opened]
        for store in opened:
            store.close()
        assert not failed, failed[0]
        assert versions == [schema.SCHEMA_VERSION] * REPLICAS
