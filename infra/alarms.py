"""The CloudWatch alarms of a stack, as data (issue 16, item 6): what `infra/components/alerting.py`
and `infra/components/uptime.py` create, and what the cost model counts.

Pure: no Pulumi. The identifiers an alarm watches (RDS instance identifiers, ElastiCache member
clusters, the load balancer's ARN suffix, the certificate's ARN, the health check's id) exist
only once their resources do, so `alarm_specs` takes them as values of any type: strings in a
test, Pulumi Outputs in a component.

Severities are Alertmanager's (infra/config.py SlackRoute, PagerDutyRoute): `critical` pages
(PagerDuty) and goes to Slack, `warning` goes to Slack. Each alarm carries its severity twice:
in its name, `<stack name>-<severity>-<role>`, for the people who read it, and as the prefix of
its description, `[<severity>] ...`, which the alert forwarder reads
(infra/alert_forwarder/handler.py, `severity_of`).

What each stack gets (`alarm_specs`):
- per RDS instance, the primary (`db`) and each read replica (`db-replica-<n>`): CPU above 80%
  for 15 minutes (warning), free storage below 10% of `database.allocated_storage_gb` (critical
  without storage autoscaling; warning with it, since RDS grows the volume at that same mark),
  connections above 80% of the class's default `max_connections` (warning); and on each
  replica, replication lag above 5 minutes (warning);
- per ElastiCache member cluster (`<replication group id>-00<n>`, one node each, cluster mode
  off): engine CPU above 80% for 15 minutes (warning), memory above 80% of maxmemory for 15
  minutes (warning), any eviction in 5 minutes (critical: this Redis holds sessions and queues,
  not only a cache, so an eviction loses data);
- the NLB: any unhealthy target for 5 minutes (warning), a Metrics Insights query over its
  target groups, which the AWS Load Balancer Controller names (so no alarm can name them);
- the API's certificate: fewer than 30 days to expiry (warning);
- with `observability.uptime`: the Route 53 health check unhealthy (critical), `uptime_alarm`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from infra.config import CacheConfig, DatabaseConfig, StackConfig

Severity = Literal["critical", "warning"]
CRITICAL: Severity = "critical"
WARNING: Severity = "warning"
SEVERITIES: tuple[Severity, ...] = (CRITICAL, WARNING)

GIB = 1024**3
# RDS for PostgreSQL's default max_connections: LEAST({DBInstanceClassMemory/9531392}, 5000)
# (RDS user guide, "Quotas and constraints for Amazon RDS", Maximum number of database
# connections; the parameter group leaves it at the default, infra/components/database.py).
PG_BYTES_PER_CONNECTION = 9531392
PG_MAX_CONNECTIONS_CAP = 5000
# Memory (GiB) of the classes the price catalogues list (infra/prices/*.yaml rds_postgres), from
# the RDS user guide, "Hardware specifications for DB instance classes". DBInstanceClassMemory
# is this less what RDS reserves for the OS and its own processes, so the real default is a few
# percent lower than the one computed here (reported values: db.t2.medium 413, not 450): an
# alarm at 80% of the computed value fires at about 85-90% of the real one.
RDS_CLASS_MEMORY_GIB: Mapping[str, float] = {
    "db.t3.micro": 1,
    "db.t3.small": 2,
    "db.t3.medium": 4,
    "db.t3.large": 8,
    "db.t4g.medium": 4,
    "db.m5.large": 8,
    "db.m6g.large": 8,
    "db.m6i.large": 8,
    "db.r6g.large": 16,
}

CPU_PERCENT = 80
FREE_STORAGE_FRACTION = 0.10
CONNECTIONS_FRACTION = 0.80
# Over the replica's own allowance: RDS reports up to five minutes of lag on a replica whose
# source is idle (RDS user guide, "Working with read replicas for Amazon RDS for PostgreSQL"),
# and a long read there (the data copy's dump) may hold replay back for
# database.standby_delay_seconds. The alarm is the longer of the two plus a margin.
RDS_IDLE_SOURCE_LAG_SECONDS = 300
REPLICA_LAG_MARGIN_SECONDS = 300
CACHE_ENGINE_CPU_PERCENT = 80
CACHE_MEMORY_PERCENT = 80
CERTIFICATE_DAYS = 30
# Cluster mode off: each member cluster of the replication group is one node, `0001`.
CACHE_NODE_ID = "0001"
# The target groups' schema (AWS/NetworkELB publishes UnHealthyHostCount only per
# TargetGroup, LoadBalancer: Elastic Load Balancing user guide for NLBs, "CloudWatch metrics").
NLB_SCHEMA = ("LoadBalancer", "TargetGroup")


@dataclass(frozen=True)
class AlarmSpec:
    """One CloudWatch metric alarm. `dimensions` values are whatever the caller passed (str or
    Output). A Metrics Insights alarm (`insights`) has no metric of its own: it is the query
    `SELECT <statistic>(<metric_name>) FROM SCHEMA("<namespace>", <schema>) WHERE <dimensions>`,
    one aggregated series (no GROUP BY), evaluated every `period` seconds."""

    role: str
    severity: Severity
    summary: str
    namespace: str
    metric_name: str
    dimensions: Mapping[str, Any]
    statistic: str
    period: int
    evaluation_periods: int
    threshold: float
    comparison_operator: str
    # CloudWatch's default, `missing`: no data keeps the state, so nothing is sent.
    treat_missing_data: str = "missing"
    insights_schema: tuple[str, ...] = field(default=())

    @property
    def insights(self) -> bool:
        return bool(self.insights_schema)

    @property
    def description(self) -> str:
        """What the forwarder reads the severity from: `[<severity>] <summary>`."""
        return f"[{self.severity}] {self.summary}"

    def name(self, prefix: str) -> str:
        return f"{prefix}-{self.severity}-{self.role}"


def max_connections(instance_class: str) -> int:
    """RDS for PostgreSQL's default max_connections of a class (nominal memory, see above)."""
    try:
        memory = RDS_CLASS_MEMORY_GIB[instance_class]
    except KeyError:
        known = ", ".join(sorted(RDS_CLASS_MEMORY_GIB))
        raise ValueError(f"no memory size for RDS instance class {instance_class!r} (infra/alarms.py RDS_CLASS_MEMORY_GIB knows {known})") from None
    return min(int(memory * GIB) // PG_BYTES_PER_CONNECTION, PG_MAX_CONNECTIONS_CAP)


def member_cluster_id(replication_group_id: str, index: int) -> str:
    """ElastiCache's name for the `index`-th (1-based) cache cluster of a cluster-mode-off group."""
    return f"{replication_group_id}-{index:03d}"


def insights_query(spec: AlarmSpec, values: Mapping[str, str]) -> str:
    """The Metrics Insights query of an `insights` alarm, `values` its dimensions resolved."""
    if not spec.insights:
        raise ValueError(f"{spec.role} is a metric alarm, not a Metrics Insights one")
    where = " AND ".join(f"{key} = '{values[key]}'" for key in spec.dimensions)
    return f'SELECT {spec.statistic}({spec.metric_name}) FROM SCHEMA("{spec.namespace}", {", ".join(spec.insights_schema)}) WHERE {where}'


def replica_lag_threshold(db: DatabaseConfig) -> int:
    """Seconds of ReplicaLag that alarm: the most a healthy replica lags, plus a margin."""
    return max(db.standby_delay_seconds, RDS_IDLE_SOURCE_LAG_SECONDS) + REPLICA_LAG_MARGIN_SECONDS


def _instance_alarms(db: DatabaseConfig, role: str, what: str, identifier: Any, replica: bool) -> list[AlarmSpec]:
    dims = {"DBInstanceIdentifier": identifier}
    rds = dict(namespace="AWS/RDS", dimensions=dims)
    free_gib = db.allocated_storage_gb * FREE_STORAGE_FRACTION
    limit = max_connections(db.instance_class)
    autoscaling = db.max_allocated_storage_gb > db.allocated_storage_gb
    specs = [
        AlarmSpec(
            f"{role}-cpu", WARNING, f"{what}: CPU above {CPU_PERCENT}% for 15 minutes ({db.instance_class})",
            metric_name="CPUUtilization", statistic="Average", period=300, evaluation_periods=3,
            threshold=CPU_PERCENT, comparison_operator="GreaterThanThreshold", **rds,
        ),
        # Storage autoscaling adds storage when free space is 10% or less of the allocation
        # for 5 minutes (RDS user guide, "Managing capacity automatically with Amazon RDS
        # storage autoscaling"): with it, this fires as the volume grows, so it warns; without
        # it, a full volume stops the database, so it pages.
        AlarmSpec(
            f"{role}-free-storage", WARNING if autoscaling else CRITICAL,
            f"{what}: free storage below {free_gib:g} GiB (10% of {db.allocated_storage_gb} GiB allocated{'; storage autoscaling on' if autoscaling else ''})",
            metric_name="FreeStorageSpace", statistic="Minimum", period=300, evaluation_periods=1,
            threshold=int(free_gib * GIB), comparison_operator="LessThanThreshold", **rds,
        ),
        # The Maximum over 5 minutes: a pool that fills in bursts still shows; two periods, so
        # one deploy's reconnect storm does not.
        AlarmSpec(
            f"{role}-connections", WARNING, f"{what}: connections above 80% of max_connections ({limit}, the {db.instance_class} default)",
            metric_name="DatabaseConnections", statistic="Maximum", period=300, evaluation_periods=2,
            threshold=limit * 80 // 100, comparison_operator="GreaterThanThreshold", **rds,
        ),
    ]
    if replica:
        # Stale reads, not lost writes: the primary is unaffected, so it warns.
        lag = replica_lag_threshold(db)
        specs.append(
            AlarmSpec(
                f"{role}-lag", WARNING, f"{what}: replication lag above {lag} s for 10 minutes",
                metric_name="ReplicaLag", statistic="Maximum", period=300, evaluation_periods=2,
                threshold=lag, comparison_operator="GreaterThanThreshold", **rds,
            )
        )
    return specs


def _cache_alarms(cache_config: CacheConfig, index: int, cluster_id: Any) -> list[AlarmSpec]:
    node = f"{index:03d}"
    what = f"Redis node {node}"
    # Host-level and engine metrics are per node (ElastiCache user guide, "Monitoring use with
    # CloudWatch Metrics"): both dimensions name it.
    cache = dict(namespace="AWS/ElastiCache", dimensions={"CacheClusterId": cluster_id, "CacheNodeId": CACHE_NODE_ID})
    return [
        # Redis runs commands on one thread: EngineCPUUtilization is that thread's CPU, the one
        # that saturates first (CPUUtilization averages every vCPU of the host).
        AlarmSpec(
            f"redis-{node}-engine-cpu", WARNING, f"{what}: engine CPU above {CACHE_ENGINE_CPU_PERCENT}% for 15 minutes ({cache_config.node_type})",
            metric_name="EngineCPUUtilization", statistic="Average", period=300, evaluation_periods=3,
            threshold=CACHE_ENGINE_CPU_PERCENT, comparison_operator="GreaterThanThreshold", **cache,
        ),
        # Of maxmemory: at 100% Redis evicts (default.redis7: volatile-lru) or refuses writes.
        AlarmSpec(
            f"redis-{node}-memory", WARNING, f"{what}: memory above {CACHE_MEMORY_PERCENT}% of maxmemory for 15 minutes",
            metric_name="DatabaseMemoryUsagePercentage", statistic="Maximum", period=300, evaluation_periods=3,
            threshold=CACHE_MEMORY_PERCENT, comparison_operator="GreaterThanThreshold", **cache,
        ),
        # Sessions and queues live here, so an eviction is lost data, and it means the memory
        # warning above went unanswered. No eviction publishes no data point: not breaching.
        AlarmSpec(
            f"redis-{node}-evictions", CRITICAL, f"{what}: keys evicted (memory full: sessions or queued jobs lost)",
            metric_name="Evictions", statistic="Sum", period=300, evaluation_periods=1,
            threshold=0, comparison_operator="GreaterThanThreshold", treat_missing_data="notBreaching", **cache,
        ),
    ]


def alarm_specs(
    database: DatabaseConfig,
    cache: CacheConfig,
    *,
    db_instance: Any,
    db_replicas: Sequence[Any],
    cache_clusters: Sequence[Any],
    load_balancer: Any,
    certificate_arn: Any,
) -> list[AlarmSpec]:
    """The stack's alarms in the stack's region (the uptime alarm is `uptime_alarm`'s).

    `db_instance` / `db_replicas`: DBInstanceIdentifier of the primary and of each replica, in
    order; `cache_clusters`: the replication group's member cluster ids (`member_cluster_id`);
    `load_balancer`: the NLB's ARN suffix (`net/<name>/<id>`); `certificate_arn`: the ACM
    certificate of the API and web records.
    """
    if len(db_replicas) != database.read_replicas:
        raise ValueError(f"{len(db_replicas)} replica identifiers for database.read_replicas {database.read_replicas}")
    if len(cache_clusters) != cache.num_nodes:
        raise ValueError(f"{len(cache_clusters)} member clusters for cache.num_nodes {cache.num_nodes}")
    specs = _instance_alarms(database, "db", "PostgreSQL primary", db_instance, replica=False)
    for i, replica in enumerate(db_replicas, start=1):
        specs += _instance_alarms(database, f"db-replica-{i}", f"PostgreSQL read replica {i}", replica, replica=True)
    for i, cluster in enumerate(cache_clusters, start=1):
        specs += _cache_alarms(cache, i, cluster)
    specs += [
        # A target is unhealthy while it drains in a rolling deploy: 5 minutes is longer than
        # Traefik's. One unhealthy target of several still serves (the NLB routes around it),
        # so it warns; the API down for everyone is the uptime check's page.
        AlarmSpec(
            "nlb-unhealthy-targets", WARNING, "Load balancer: unhealthy targets for 5 minutes (Traefik pods failing the NLB's health check)",
            namespace="AWS/NetworkELB", metric_name="UnHealthyHostCount", statistic="MAX", dimensions={"LoadBalancer": load_balancer},
            period=60, evaluation_periods=5, threshold=0, comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching", insights_schema=NLB_SCHEMA,
        ),
        # ACM renews a DNS-validated certificate from 60 days before expiry while its validation
        # CNAME resolves (ACM user guide, "Managed certificate renewal"): under 30 days, renewal
        # has failed; a month is time enough to fix it, so it warns. The metric is daily, and
        # ACM stops publishing it once the certificate has expired (AWS CDK, Certificate
        # metricDaysToExpiry: "alarms ... should probably treat missing data as breaching"): two
        # days without it alarm, one missing day (a new certificate's first) does not.
        AlarmSpec(
            "certificate-expiry", WARNING, f"ACM certificate of the API and web records: fewer than {CERTIFICATE_DAYS} days to expiry (renewal failed), or no longer reported (expired)",
            namespace="AWS/CertificateManager", metric_name="DaysToExpiry", statistic="Minimum", dimensions={"CertificateArn": certificate_arn},
            period=86400, evaluation_periods=2, threshold=CERTIFICATE_DAYS, comparison_operator="LessThanThreshold", treat_missing_data="breaching",
        ),
    ]
    return specs


def uptime_host(cfg: StackConfig) -> str:
    """What the uptime check requests: the first API record's hostname."""
    return cfg.dns.fqdn(cfg.dns.api_records[0])


def uptime_alarm(url: str, health_check_id: Any) -> AlarmSpec:
    """The Route 53 health check's alarm: 0 (unhealthy) pages. Route 53 already waited for
    `uptime.failure_threshold` consecutive failures at each checker, so one period suffices."""
    return AlarmSpec(
        "uptime", CRITICAL, f"API down: {url} fails Route 53's health check",
        namespace="AWS/Route53", metric_name="HealthCheckStatus", statistic="Minimum", dimensions={"HealthCheckId": health_check_id},
        period=60, evaluation_periods=1, threshold=1, comparison_operator="LessThanThreshold",
    )


def alarm_count(cfg: StackConfig) -> int:
    """How many alarms the stack creates (the cost model's line): none without alerts."""
    obs = cfg.observability
    if not obs.alerts.enabled:
        return 0
    specs = alarm_specs(
        cfg.database,
        cfg.cache,
        db_instance="db",
        db_replicas=[f"replica-{i}" for i in range(cfg.database.read_replicas)],
        cache_clusters=[member_cluster_id("redis", i) for i in range(1, cfg.cache.num_nodes + 1)],
        load_balancer="net/lb/0",
        certificate_arn="arn",
    )
    return len(specs) + (1 if obs.uptime.enabled else 0)
