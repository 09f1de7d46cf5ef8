"""Dev's seed data (infra/data/seed.py, data/seed.yaml): loaded on the real PostgreSQL 17, never into staging or prod.

The loader runs as the RDS-shaped master of the `postgres` fixture (tests/postgres.py) into a
database of its own; the bootstrap superuser only inspects. The seeded schema is also the
one data/masking.yaml classifies: the copy's check passes on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from psycopg.conninfo import make_conninfo

from infra.data import copy as datacopy
from infra.data import masking, seed

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "seed_dev"


@pytest.mark.parametrize(
    "tier, message",
    [
        ("staging", "--tier: 'staging' is not a tier seed data may be loaded into (it holds real or anonymized data, never fixtures); allowed: dev, review, local"),
        ("prod", "--tier: 'prod' is not a tier seed data may be loaded into (it holds real or anonymized data, never fixtures); allowed: dev, review, local"),
        ("production", "--tier: 'production' is not a tier seed data may be loaded into (it holds real or anonymized data, never fixtures); allowed: dev, review, local"),
        ("Dev", "--tier: 'Dev' is not a tier seed data may be loaded into; allowed: dev, review, local"),
        (None, "--tier: None is not a tier seed data may be loaded into; allowed: dev, review, local"),
    ],
)
def test_the_tier_is_checked_before_anything_connects(tier, message):
    with pytest.raises(seed.SeedError) as error:
        seed.load(None, tier)  # no connection: the check comes first
    assert str(error.value) == message


@pytest.mark.parametrize(
    "fixtures, message",
    [
        ({"users": [{"email": "maria@gmail.com", "name": "M"}]}, "users.0.email: String should match pattern '^[a-z0-9._+-]+@example\\.(com|net|org)$'"),
        ({"users": [{"email": "a@example.com", "name": "A", "role": "x"}]}, "users.0.role: Extra inputs are not permitted"),
        (
            {"users": [{"email": "a@example.com", "name": "A"}], "events": [{"user": "b@example.com", "title": "t", "start_time": "2025-01-01T10:00:00Z", "end_time": "2025-01-01T11:00:00Z"}]},
            "events.0.user: 'b@example.com' is not a user; allowed: a@example.com",
        ),
        (
            {"users": [{"email": "a@example.com", "name": "A"}], "events": [{"user": "a@example.com", "title": "t", "start_time": "2025-01-01T10:00:00Z", "end_time": "2025-01-01T09:00:00Z"}]},
            "events.0.end_time: before start_time; allowed: at or after it",
        ),
    ],
)
def test_bad_fixtures_stop_with_one_line(tmp_path, fixtures, message):
    import yaml

    path = tmp_path / "seed.yaml"
    path.write_text(yaml.safe_dump(fixtures), encoding="utf-8")
    with pytest.raises(seed.SeedError) as error:
        seed.load_fixtures(path)
    assert str(error.value) == f"{path}: {message}"


@pytest.mark.xdist_group("postgres")
def test_the_fixtures_load_once_and_match_the_masking_rules(postgres):
    with postgres.as_superuser("postgres") as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    with postgres.as_master("postgres") as conn:
        conn.execute(f"CREATE DATABASE {DATABASE}")
    with postgres.as_master(DATABASE) as conn:
        assert seed.load(conn, "dev") == {"users": 3, "events": 3}
        assert seed.load(conn, "review") == {"users": 3, "events": 3}  # a second load adds nothing
        rows = conn.execute("SELECT u.email, e.title, e.start_time::text FROM app.events e JOIN app.users u ON u.id = e.user_id ORDER BY e.start_time").fetchall()
        assert rows == [
            ("dev@example.com", "Reunión de desarrollo", "2025-10-20 10:00:00+00"),
            ("dev@example.com", "Testing session", "2025-10-20 14:00:00+00"),
            ("test1@example.com", "Revisión de sprint", "2025-10-24 09:00:00+00"),
        ]
        _, problems = datacopy.check(conn, masking.load(ROOT / "data" / "masking.yaml"))
    assert problems == []


@pytest.mark.xdist_group("postgres")
def test_the_cli_loads_dev_and_refuses_staging(postgres):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["DATABASE_URL"] = make_conninfo(**postgres.conninfo(postgres.master, postgres.master_password, DATABASE))
    command = [sys.executable, "-m", "infra.data.seed"]
    with postgres.as_superuser("postgres") as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    with postgres.as_master("postgres") as conn:
        conn.execute(f"CREATE DATABASE {DATABASE}")
    loaded = subprocess.run([*command, "--tier", "dev"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (loaded.returncode, loaded.stdout, loaded.stderr) == (0, "seed: dev: 3 users, 3 events\n", "")
    refused = subprocess.run([*command, "--tier", "staging"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == "error: --tier: 'staging' is not a tier seed data may be loaded into (it holds real or anonymized data, never fixtures); allowed: dev, review, local\n"
