"""Stack config: each committed file is valid; each kind of bad input gets its one exact line."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from infra import config
from infra.config import ConfigError
from tests.conftest import STACKS, stack_config


def raw_of(stack: str) -> dict[str, Any]:
    return {k.split(":", 1)[1]: v for k, v in stack_config(stack).items() if k.startswith("platform:")}


def parse(raw: dict[str, Any], stack: str = "staging", secret_keys: frozenset[str] = frozenset(), aws: dict | None = None):
    return config.parse(raw, stack=stack, aws={"region": "us-east-1"} if aws is None else aws, secret_keys=secret_keys)


def with_change(stack: str, path: str, value: Any) -> dict[str, Any]:
    """The committed config of `stack` with one dotted path set (or removed when value is ...)."""
    return changed(raw_of(stack), path, value)


def with_changes(stack: str, changes: dict[str, Any]) -> dict[str, Any]:
    """The committed config of `stack` with every dotted path of `changes` set."""
    raw = raw_of(stack)
    for path, value in changes.items():
        raw = changed(raw, path, value)
    return raw


def changed(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    *parents, leaf = path.split(".")
    node = raw
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is ...:
        del node[leaf]
    elif leaf.isdigit():
        node[int(leaf)] = value
    else:
        node[leaf] = value
    return raw


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stack_files_are_valid(stack):
    cfg = parse(raw_of(stack), stack=stack)
    assert cfg.environment == stack
    assert cfg.base_tags() == {"Project": "platform", "Environment": stack, "ManagedBy": "pulumi"}


@pytest.mark.parametrize(
    ("stack", "path", "value", "message"),
    [
        # unknown keys, at every level
        ("staging", "netwrok", {}, "platform:netwrok: unknown key; allowed: access, account, app, audit, budget, cache, cloudflare_api_token, cluster, cost, data_copy, database, dns, environment, network, observability, pagerduty_routing_key, protection, runner, sendgrid_api_key, sentry_dsn, slack_webhook_url, stripe_secret_key, tags, tier, working_hours"),
        ("staging", "network.cidrr", "10.0.0.0/16", "platform:network.cidrr: unknown key; allowed: az_count, cidr, flow_logs_retention_days, flow_logs_traffic, nat_gateways, subnet_prefix"),
        ("staging", "cluster.node_groups.0.min", 1, "platform:cluster.node_groups[0].min: unknown key; allowed: capacity_type, desired_size, disk_size_gb, expected_size, instance_types, labels, max_size, min_size, name, scale_to_zero_off_hours, taints"),
        # wrong types
        ("staging", "network.az_count", "two", "platform:network.az_count: expected a whole number, got 'two'"),
        ("staging", "database.multi_az", "sometimes", "platform:database.multi_az: expected true or false, got 'sometimes'"),
        ("staging", "cluster.node_groups", {"name": "general"}, "platform:cluster.node_groups: expected a list, got {'name': 'general'}"),
        # missing required keys
        ("staging", "network.cidr", ..., "platform:network.cidr: required, not set"),
        ("staging", "database", ..., "platform:database: required, not set"),
        # CIDRs and the subnet plan
        ("staging", "network.cidr", "10.20.0.0/33", "platform:network.cidr: '10.20.0.0/33' is not an IPv4 CIDR like 10.20.0.0/16"),
        ("staging", "network.cidr", "10.20.0.1/16", "platform:network.cidr: '10.20.0.1/16' has host bits set"),
        ("staging", "network.cidr", "52.20.0.0/16", "platform:network.cidr: 52.20.0.0/16 is not a private (RFC 1918) range"),
        ("staging", "network.cidr", "10.20.0.0/18", "platform:network.cidr: 10.20.0.0/18 (16384 addresses) cannot hold 2 AZs x (private /19 + public /24 + isolated /24) = 17408 addresses"),
        ("staging", "cluster.public_access_cidrs", ["0.0.0.0/0"], "platform:cluster.public_access_cidrs[0]: 0.0.0.0/0 opens the API endpoint to the internet; list office/VPN ranges of /8 or narrower"),
        ("staging", "cluster.public_access_cidrs", ["203.0.113.0/24", "198.0.0.0/7"], "platform:cluster.public_access_cidrs[1]: 198.0.0.0/7 opens the API endpoint to the internet; list office/VPN ranges of /8 or narrower"),
        # ranges
        ("staging", "network.az_count", 1, "platform:network.az_count: must be >= 2, got 1"),
        ("staging", "network.az_count", 7, "platform:network.az_count: must be <= 6, got 7"),
        # -1 (PostgreSQL's wait forever) would let a replica fall behind without bound.
        ("prod", "database.standby_delay_seconds", -1, "platform:database.standby_delay_seconds: must be >= 30, got -1"),
        ("prod", "database.standby_delay_seconds", 7200, "platform:database.standby_delay_seconds: must be <= 3600, got 7200"),
        ("staging", "network.nat_gateways", "many", "platform:network.nat_gateways: got 'many'; allowed: 'single' or 'one_per_az'"),
        ("staging", "network.flow_logs_retention_days", 10, "platform:network.flow_logs_retention_days: must be one of the CloudWatch Logs retention periods 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653"),
        # min above max
        ("staging", "cluster.node_groups.0.min_size", 6, "platform:cluster.node_groups[0]: min_size (6) is above max_size (5)"),
        ("staging", "cluster.node_groups.0.desired_size", 9, "platform:cluster.node_groups[0]: desired_size (9) must be between min_size (2) and max_size (5)"),
        ("staging", "database.max_allocated_storage_gb", 50, "platform:database: max_allocated_storage_gb (50) is below allocated_storage_gb (100); use 0 to turn autoscaling off"),
        # catalogue
        ("staging", "database.instance_class", "db.x9.huge", "platform:database.instance_class: unknown RDS instance class 'db.x9.huge'; allowed: db.m5.large, db.m6g.large, db.m6i.large, db.r6g.large, db.t3.large, db.t3.medium, db.t3.micro, db.t3.small, db.t4g.medium"),
        ("staging", "cache.node_type", "cache.t1.micro", "platform:cache.node_type: unknown ElastiCache node type 'cache.t1.micro'; allowed: cache.m5.large, cache.m6g.large, cache.r6g.large, cache.t3.medium, cache.t3.micro, cache.t3.small, cache.t4g.small"),
        ("staging", "cluster.node_groups.0.instance_types", ["m5.large", "p5.48xlarge"], "platform:cluster.node_groups[0].instance_types[1]: unknown EC2 instance type 'p5.48xlarge'; allowed: m5.large, m5.xlarge, m6g.large, m6i.large, m7g.large, m7i.large, t3.large, t3.medium, t3.small, t4g.medium"),
        ("staging", "cluster.node_groups.0.instance_types", ["m5.large", "m6g.large"], "platform:cluster.node_groups[0].instance_types: mixes arm64 and x86_64 instance types (m5.large, m6g.large); a managed node group runs one AMI, so one architecture"),
        ("prod", "cluster.node_groups.1.instance_types", ["t4g.medium", "t3.medium"], "platform:cluster.node_groups[1].instance_types: mixes arm64 and x86_64 instance types (t4g.medium, t3.medium); a managed node group runs one AMI, so one architecture"),
        # coherence
        ("staging", "cache.automatic_failover", False, "platform:cache: num_nodes is 2 but automatic_failover is off: replicas without failover are paid for and never used; turn automatic_failover on or set num_nodes to 1"),
        ("staging", "cluster.log_types", ["api"], "platform:cluster.log_types: must include api, audit, authenticator (missing audit, authenticator)"),
        ("staging", "database.admin_username", "postgres", "platform:database.admin_username: 'postgres' is a default/reserved name; choose another (e.g. app_admin)"),
        ("staging", "dns.web_records", ["api-staging"], "platform:dns: api-staging listed as both an API and a web record"),
        ("staging", "budget.alert_emails", [], "platform:budget.alert_emails: at least one address is required in a staging tier"),
        ("staging", "tags", {"Environment": "x"}, "platform:tags: Environment are set by the program and cannot be overridden"),
        ("dev", "working_hours", ..., "platform:working_hours: required when database.stop_off_hours or a node group's scale_to_zero_off_hours is set"),
        ("dev", "working_hours.timezone", "Mars/Olympus", "platform:working_hours.timezone: 'Mars/Olympus' is not an IANA time zone (e.g. Europe/Madrid)"),
        # the autoscaler and the platform's pods (infra/components/scaling.py)
        ('staging', 'cluster.autoscaler.scale_down_unneeded_time', '10 minutes', "platform:cluster.autoscaler.scale_down_unneeded_time: '10 minutes' is not a duration like 10m, 1h or 1h30m"),
        ('staging', 'cluster.autoscaler.scale_down_unneeded_time', '30s', "platform:cluster.autoscaler.scale_down_unneeded_time: '30s' must be between 1m and 24h"),
        ('staging', 'cluster.autoscaler.scale_down_delay_after_add', '25h', "platform:cluster.autoscaler.scale_down_delay_after_add: '25h' must be between 1m and 24h"),
        ('staging', 'cluster.autoscaler.scale_down_delay_after_add', '', "platform:cluster.autoscaler.scale_down_delay_after_add: '' is not a duration like 10m, 1h or 1h30m"),
        ('staging', 'cluster.autoscaler.scale_down_utilization_threshold', 1.0, 'platform:cluster.autoscaler.scale_down_utilization_threshold: must be < 1.0, got 1.0'),
        ('staging', 'cluster.autoscaler.scale_down_utilization_threshold', 0, 'platform:cluster.autoscaler.scale_down_utilization_threshold: must be > 0.0, got 0'),
        ('staging', 'cluster.autoscaler.expander', 'random', 'platform:cluster.autoscaler.expander: unknown key; allowed: scale_down_delay_after_add, scale_down_unneeded_time, scale_down_utilization_threshold'),
        ('staging', 'cluster.node_groups.0.expected_size', 6, 'platform:cluster.node_groups[0]: expected_size (6) must be between min_size (2) and max_size (5)'),
        ('staging', 'cluster.zone_spread', 'sometimes', "platform:cluster.zone_spread: got 'sometimes'; allowed: 'required' or 'preferred'"),
        ('staging', 'cluster.node_groups.0.labels', {'team.a': 'x', 'team-a': 'y'}, 'platform:cluster.node_groups[0]: label key(s) team-a, team.a collide: each label becomes one autoscaler node-template tag, so a key appears once and differs from the others in more than punctuation'),
        ('prod', 'cluster.node_groups.1.taints', [{'key': 'workload', 'value': 'a', 'effect': 'NO_SCHEDULE'}, {'key': 'workload', 'value': 'b', 'effect': 'NO_EXECUTE'}], 'platform:cluster.node_groups[1]: taint key(s) workload collide: each taint becomes one autoscaler node-template tag, so a key appears once and differs from the others in more than punctuation'),
        ('dev', 'working_hours.stop', '08:30', 'platform:working_hours: the working day 08:00-08:30 must be at least an hour long'),
        # unsafe production settings (the safety floor: test_production_floor below)
        ("prod", "app.external_services", "mock", "platform:app.external_services: 'mock' is not allowed in a production tier; use live"),
        ("staging", "protection", {"final_snapshots": False, "protect": False}, "platform:protection.final_snapshots: must be true in a staging tier"),
    ],
)
def test_bad_input_names_the_key_and_what_is_allowed(stack, path, value, message):
    with pytest.raises(ConfigError) as err:
        parse(with_change(stack, path, value), stack=stack)
    assert str(err.value) == message
    assert "\n" not in str(err.value)


# Every row of the production safety floor, each alone (the rest of the prod file is valid).
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"database.multi_az": False}, "platform:database.multi_az: must be true in a production tier"),
        ({"database.backup_retention_days": 29}, "platform:database.backup_retention_days: must be at least 30 in a production tier (point-in-time recovery window)"),
        ({"database.backup_retention_days": 7}, "platform:database.backup_retention_days: must be at least 30 in a production tier (point-in-time recovery window)"),
        ({"database.read_replicas": 0, "database.stop_off_hours": True}, "platform:database.stop_off_hours: must be false in a production tier"),
        ({"cache.num_nodes": 1, "cache.automatic_failover": False, "cache.multi_az": False}, "platform:cache.automatic_failover: must be true in a production tier"),
        ({"cache.multi_az": False}, "platform:cache.multi_az: must be true in a production tier"),
        ({"cache.snapshot_retention_days": 0}, "platform:cache.snapshot_retention_days: must be at least 1 in a production tier"),
        ({"protection": {"protect": False}}, "platform:protection.protect: must be true in a production tier"),
        ({"protection": {"retain_on_delete": False}}, "platform:protection.retain_on_delete: must be true in a production tier"),
        ({"protection": {"deletion_protection": False}}, "platform:protection.deletion_protection: must be true in a production tier"),
        ({"protection": {"final_snapshots": False}}, "platform:protection.final_snapshots: must be true in a production tier"),
        ({"cluster.node_groups.1.scale_to_zero_off_hours": True}, "platform:cluster.node_groups[1].scale_to_zero_off_hours: must be false in a production tier"),
        ({"cluster.zone_spread": "preferred"}, "platform:cluster.zone_spread: must be required in a production tier (one zone's loss must leave a replica)"),
    ],
    ids=lambda v: ",".join(v) if isinstance(v, dict) else None,
)
def test_production_floor(changes, message):
    with pytest.raises(ConfigError) as err:
        parse(with_changes("prod", changes), stack="prod")
    assert str(err.value) == message


@pytest.mark.parametrize(
    "changes",
    [{"database.backup_retention_days": 30}, {"cache.snapshot_retention_days": 1}, {"cluster.node_groups.1.scale_to_zero_off_hours": False}],
    ids=lambda v: ",".join(v),
)
def test_production_floor_lets_the_minimum_through(changes):
    assert parse(with_changes("prod", changes), stack="prod").tier == "production"


def test_public_access_cidrs_of_slash_8_or_narrower_are_accepted():
    cidrs = ["198.0.0.0/8", "203.0.113.0/24", "192.0.2.10/32"]
    cfg = parse(with_change("staging", "cluster.public_access_cidrs", cidrs))
    assert cfg.cluster.public_access_cidrs == cidrs


def test_database_defaults():
    """What a database section gets for every key it leaves out."""
    raw = with_change("staging", "database", {"instance_class": "db.t3.medium", "allocated_storage_gb": 100})
    assert parse(raw).database.model_dump() == {
        "instance_class": "db.t3.medium",
        "allocated_storage_gb": 100,
        "max_allocated_storage_gb": 0,
        "multi_az": True,
        "backup_retention_days": 7,
        "backup_window": "03:00-04:00",
        "maintenance_window": "sun:04:30-sun:05:30",
        "read_replicas": 0,
        "standby_delay_seconds": 900,
        "database_name": "app",
        "admin_username": "app_admin",
        "monitoring_interval": 60,
        "stop_off_hours": False,
        "master_password_generation": 1,
        "app_password_generation": 1,
        "apply_immediately": False,
        "allow_major_version_upgrade": False,
    }


def test_backup_retention_defaults_to_7_days():
    raw = with_change("staging", "database.backup_retention_days", ...)
    assert parse(raw).database.backup_retention_days == 7


def test_a_secret_in_plain_text_is_refused():
    raw = {**raw_of("staging"), "stripe_secret_key": "sk_live_oops"}
    with pytest.raises(ConfigError) as err:
        parse(raw)
    assert str(err.value) == (
        "platform:stripe_secret_key: stored in plain text; remove it and run "
        "`pulumi config set --secret platform:stripe_secret_key <value> --stack staging`"
    )


def test_a_secret_stored_as_secret_is_accepted():
    raw = {**raw_of("staging"), "stripe_secret_key": "<secret>"}
    assert parse(raw, secret_keys=frozenset({"stripe_secret_key"})).tier == "staging"


@pytest.mark.parametrize(
    ("aws", "message"),
    [
        ({}, "aws:region: required, not set; run `pulumi config set aws:region us-east-1 --stack staging`"),
        ({"region": "moon-1"}, "aws:region: 'moon-1' does not match ^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\\d$"),
    ],
)
def test_aws_settings_are_checked(aws, message):
    with pytest.raises(ConfigError) as err:
        parse(raw_of("staging"), aws=aws)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("stack", "needed"),
    # With each alert route, its credential: staging alerts to Slack, prod to Slack and PagerDuty.
    [
        ("dev", ("cloudflare_api_token",)),
        ("staging", ("cloudflare_api_token", "stripe_secret_key", "sendgrid_api_key", "slack_webhook_url")),
        ("prod", ("cloudflare_api_token", "stripe_secret_key", "sendgrid_api_key", "slack_webhook_url", "pagerduty_routing_key")),
    ],
)
def test_required_secrets_follow_external_services_mode(stack, needed):
    assert config.required_secrets(parse(raw_of(stack), stack=stack)) == needed


def test_defaults_are_the_safe_ones():
    minimal = {
        "tier": "production",
        "network": {"cidr": "10.40.0.0/16"},
        "cluster": {"node_groups": [{"name": "general", "instance_types": ["m5.large"], "min_size": 3, "desired_size": 3, "max_size": 6}]},
        "database": {"instance_class": "db.m5.large", "allocated_storage_gb": 100, "backup_retention_days": 30},
        "cache": {"node_type": "cache.m5.large"},
        "dns": {"domain": "example.com", "zone_id": "0" * 32, "api_records": ["api"], "web_records": ["@"]},
        "app": {"node_env": "production"},
        "budget": {"monthly_limit_usd": 1000, "alert_emails": ["ops@example.com"]},
        "account": {"id": "444444444444"},
        "access": {"teams": {"break_glass": {"principal": "arn:aws:iam::444444444444:role/break-glass"}}},
        # What production may not leave out: long-term metrics, someone paged, an uptime check.
        "observability": {"metrics": {"long_term_days": 395}, "alerts": {"enabled": True, "pagerduty": {}}, "uptime": {"enabled": True}},
    }
    cfg = config.parse(minimal, stack="prod2", aws={"region": "us-east-1"}, other_accounts={})
    # Everything observes by default, at the seed's staging retention; pages are for critical alerts only.
    obs = cfg.observability
    assert (obs.metrics.enabled, obs.metrics.retention_days, obs.logs.enabled, obs.logs.retention_days, obs.traces.enabled, obs.traces.retention_days) == (True, 30, True, 7, True, 3)
    assert obs.alerts.pagerduty.severities == ["critical"] and obs.alerts.slack is None
    assert (obs.uptime.path, obs.uptime.request_interval_seconds, obs.uptime.failure_threshold) == ("/health", 30, 3)
    # A team named with no grants may describe the cluster and nothing else; the stack owns
    # its account's audit, kept a year and locked a year.
    assert cfg.access.teams["break_glass"].model_dump() == {
        "principal": "arn:aws:iam::444444444444:role/break-glass", "cluster": "none", "namespaces": ["app"], "database": "none", "aws": "view_only", "max_session_hours": 1,
    }
    assert cfg.owns_audit and cfg.audit.model_dump() == {"trail_retention_days": 365, "object_lock_days": 365, "session_log_retention_days": 365}
    assert cfg.network.az_count == 3 and cfg.network.nat_gateways == "one_per_az"
    assert cfg.cluster.public_access_cidrs == [] and cfg.cluster.log_types == list(config.EKS_LOG_TYPES)
    assert cfg.database.multi_az and cfg.cache.automatic_failover and cfg.cache.multi_az
    assert cfg.protection.model_dump() == {"protect": True, "retain_on_delete": True, "deletion_protection": True, "final_snapshots": True, "allow_stateful_replacement": False}
    # Changes wait for the maintenance window; a major upgrade is refused until a stack allows it.
    assert (cfg.database.apply_immediately, cfg.cache.apply_immediately, cfg.database.allow_major_version_upgrade) == (False, False, False)
    # A first deploy into an empty account creates the role the key's grant names.
    assert cfg.account.create_autoscaling_service_linked_role is True
    assert cfg.app.external_services == "live" and cfg.app.pod_security == "restricted"
