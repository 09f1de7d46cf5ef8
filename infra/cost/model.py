"""The monthly cost of a stack: its validated config priced with the catalogue.

`estimate(config)` is the `cost` stack output (README, "What each command prints"). It is a pure function of
the same `StackConfig` the components are built from, so the offline plan and
`pulumi stack output --json cost` after a real `pulumi up` agree. It imports no component
and no pulumi: the cost of a config can be computed (and tested) without a program.

Every line is `quantity x unit_price = monthly`, rounded to cents per line; the total is the
sum of the rounded lines, so a reader can add the column and get the total. Prices come
from the stack region's catalogue (`infra/prices/<region>.yaml`). A price the catalogue
lacks (no sourced list price for that region, or no catalogue for the region at all) makes
its line unpriced: `unit_price` and `monthly` null, the line named in `unpriced`, and the
total the sum of the priced lines only, a lower bound. Never a silent zero, never a crash.

Usage the price list cannot know is stated where it is assumed:
- A month is 730 hours and everything runs all month, except what sleeps outside
  `platform:working_hours`, which gets its own negative "off-hours" line.
- NAT data, log and flow-log ingestion, NLB capacity units: `platform:cost.*` (per stack).
- Node groups run at `expected_size` (default `desired_size`: the autoscaler moves them
  between `min_size` and `max_size`), priced at their first instance type; SPOT at the
  on-demand price less the catalogue's assumed `spot_discount`. `node_range` prices the
  same stack with every group at `min_size` and at `max_size`: the worst case a cost review
  holds against the budget.
- RDS backup storage stays within the free allowance (up to 100% of provisioned storage)
  and ElastiCache snapshots within the free one-snapshot allowance: priced as 0-quantity
  lines so the assumption is visible in the output.
- The account's audit (only in the stack that owns it, `StackConfig.owns_audit`): the trail
  is the account's first copy of management events, which CloudTrail delivers free (a
  second trail, or an organization trail already logging the account, would bill every
  event again); its log files and the session logs are `platform:cost.*` assumptions, held
  at their steady state: a month's files kept as long as the lifecycle keeps them.

Deliberately not priced (free tier, or too small and usage-driven to estimate honestly):
RDS enhanced monitoring (RDSOSMetrics logs, within the CloudWatch free tier at 60 s) and
Performance Insights (7-day retention is free), the RDS log exports and the Redis slow log
(slow statements only), the off-hours EventBridge schedules (a few invocations a day, free
tier), KMS and Secrets Manager API requests ($0.03 / $0.05 per 10k; the trail's are shown as a
zero line: CloudTrail's log file writes carry no key usage charge), CloudWatch Logs storage
of the retained (compressed) logs except the session logs', internet data transfer out,
Cloudflare (Free plan).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from infra import prices, runtime_config, telemetry

if TYPE_CHECKING:  # the model needs only the shapes of the config, not its loading
    from infra.config import StackConfig, WorkingHours

HOURS_PER_WEEK = Decimal(168)
# Every catalogue's month; also the month of a region with no catalogue.
HOURS_PER_MONTH = 730
_CENT = Decimal("0.01")
# Component names, in the order the program builds them (and the report prints them).
COMPONENTS = ("keys", "network", "cluster", "database", "cache", "edge", "app", "budget", "audit", "observability", "data")
_DAYS_AWAKE = {"MON-FRI": 5, "MON-SAT": 6, "MON-SUN": 7}


@dataclass(frozen=True)
class _Line:
    component: str
    resource: str
    item: str
    quantity: Decimal
    unit: str
    unit_price: Decimal | None  # None: the catalogue has no sourced price for it

    @property
    def monthly(self) -> Decimal | None:
        if self.unit_price is None:
            return None
        # +0 turns a -0.00 (a zero-quantity saving) into 0.00.
        return (self.quantity * self.unit_price).quantize(_CENT, rounding=ROUND_HALF_UP) + 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "resource": self.resource,
            "item": self.item,
            "quantity": _number(self.quantity, places=4),
            "unit": self.unit,
            "unit_price": None if self.unit_price is None else float(self.unit_price),
            "monthly": None if self.monthly is None else float(self.monthly),
        }


def _number(value: Decimal, places: int) -> int | float:
    """JSON-friendly: whole numbers as int, others rounded (the monthly uses the exact value)."""
    if value == value.to_integral_value():
        return int(value)
    return float(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _d(value: float | int) -> Decimal:
    # Through str so 0.0416 stays 0.0416 and not its binary approximation.
    return Decimal(str(value))


def _times(factor: Decimal | int, price: Decimal | None) -> Decimal | None:
    return None if price is None else factor * price


class _Prices:
    """A region's catalogue (or none), answering in Decimal; None where it has no price."""

    def __init__(self, cat: prices.Catalogue | None):
        self.cat = cat
        self.hours = Decimal(cat.hours_per_month if cat else HOURS_PER_MONTH)
        self.spot_discount = _d(cat.spot_discount) if cat else Decimal(0)

    def hourly(self, family: str, sku: str) -> Decimal | None:
        table = getattr(self.cat, family) if self.cat else {}
        return _d(table[sku].hourly) if sku in table else None

    def unit(self, name: str) -> Decimal | None:
        table = self.cat.unit_prices if self.cat else {}
        return _d(table[name].price) if name in table else None


# ---------------------------------------------------------------------------- helpers


def awake_hours_per_week(hours: WorkingHours) -> Decimal:
    """Hours a sleeping environment is up each week (days x (stop - start)); DST ignored."""
    start_h, start_m = (int(x) for x in hours.start.split(":"))
    stop_h, stop_m = (int(x) for x in hours.stop.split(":"))
    per_day = Decimal((stop_h * 60 + stop_m) - (start_h * 60 + start_m)) / 60
    return _DAYS_AWAKE[hours.days] * per_day


def off_hours_per_month(hours: WorkingHours, hours_per_month: Decimal) -> Decimal:
    """Hours a month outside working hours: 730 x (1 - awake/168)."""
    return hours_per_month * (HOURS_PER_WEEK - awake_hours_per_week(hours)) / HOURS_PER_WEEK


def _sleep_note(hours: WorkingHours) -> str:
    awake = awake_hours_per_week(hours)
    awake_text = f"{awake.normalize():f}"
    return f"{hours.days} {hours.start}-{hours.stop} {hours.timezone}: awake {awake_text} of 168 h/week"


# ---------------------------------------------------------------------------- components


def _size_source(group: Any) -> str:
    return "desired_size" if group.expected_size is None else "expected_size"


def _network(c: StackConfig, p: _Prices) -> Iterable[_Line]:
    n = 1 if c.network.nat_gateways == "single" else c.network.az_count
    layout = "1 shared" if n == 1 else f"1 per AZ x {n}"
    yield _Line("network", "nat-gateway", f"NAT gateway hours ({layout})", n * p.hours, "hour", p.unit("nat_gateway"))
    yield _Line(
        "network", "nat-gateway",
        f"NAT data processed (assumed: platform:cost.nat_processed_gb_per_month, spread over {n} gateway{'s' if n > 1 else ''})",
        _d(c.cost.nat_processed_gb_per_month), "GB", p.unit("nat_gateway_data"),
    )
    yield _Line("network", "nat-eip", "public IPv4 hours (one Elastic IP per NAT gateway)", n * p.hours, "IP-hour", p.unit("public_ipv4"))
    yield _Line(
        "network", "flow-logs", "VPC flow logs ingested into CloudWatch Logs (assumed: platform:cost.flow_log_ingest_gb_per_month)",
        _d(c.cost.flow_log_ingest_gb_per_month), "GB", p.unit("vpc_flow_logs_ingest"),
    )


def _cluster(c: StackConfig, p: _Prices) -> Iterable[_Line]:
    yield _Line("cluster", "eks", "EKS control plane (standard support)", p.hours, "hour", p.unit("eks_control_plane"))
    yield _Line(
        "cluster", "eks", "control-plane logs ingested into CloudWatch Logs (assumed: platform:cost.log_ingest_gb_per_month)",
        _d(c.cost.log_ingest_gb_per_month), "GB", p.unit("cloudwatch_logs_ingest"),
    )
    discount = p.spot_discount
    for group in c.cluster.node_groups:
        resource = f"node-group/{group.name}"
        sku = group.instance_types[0]
        on_demand = p.hourly("ec2", sku)
        first = " (first of its instance types)" if len(group.instance_types) > 1 else ""
        if group.capacity_type == "SPOT":
            rate = _times(1 - discount, on_demand)
            what = f"{sku}{first} SPOT instance hours (on-demand {'$' + str(on_demand) + '/h' if on_demand is not None else 'price'} less the assumed {discount * 100:.0f}% spot discount)"
        else:
            rate = on_demand
            what = f"{sku}{first} on-demand instance hours ({_size_source(group)} x 730 h)"
        nodes = Decimal(group.priced_size)
        disk_gb = nodes * group.disk_size_gb
        yield _Line("cluster", resource, what, nodes * p.hours, "instance-hour", rate)
        yield _Line("cluster", resource, "root EBS gp3 volumes (disk_size_gb per node)", disk_gb, "GB-month", p.unit("ebs_gp3"))
        if group.scale_to_zero_off_hours and c.working_hours is not None and group.priced_size:
            off = off_hours_per_month(c.working_hours, p.hours)
            note = _sleep_note(c.working_hours)
            yield _Line("cluster", resource, f"off-hours scale to zero: instance hours not billed ({note})", -nodes * off, "instance-hour", rate)
            # The nodes terminate, and their root volumes with them.
            yield _Line("cluster", resource, f"off-hours scale to zero: root volumes deleted with the nodes ({note})", -disk_gb * off / p.hours, "GB-month", p.unit("ebs_gp3"))


def _database(c: StackConfig, p: _Prices) -> Iterable[_Line]:
    db = c.database
    rate = p.hourly("rds_postgres", db.instance_class)
    storage = p.unit("rds_gp3_storage")
    # Multi-AZ bills a standby: twice the Single-AZ instance and storage rates.
    factor, layout = (2, "Multi-AZ: 2 x the Single-AZ rate") if db.multi_az else (1, "Single-AZ")
    gb = Decimal(db.allocated_storage_gb)
    yield _Line("database", "postgres", f"{db.instance_class} instance hours ({layout})", p.hours, "hour", _times(factor, rate))
    yield _Line("database", "postgres", f"gp3 storage, allocated_storage_gb ({layout})", gb, "GB-month", _times(factor, storage))
    yield _Line(
        "database", "postgres",
        f"backup storage beyond the free allowance (assumed none: {db.backup_retention_days}-day backups within 100% of provisioned storage are free)",
        Decimal(0), "GB-month", p.unit("rds_backup_storage"),
    )
    for i in range(1, db.read_replicas + 1):
        resource = f"postgres-replica-{i}"
        yield _Line("database", resource, f"{db.instance_class} read replica instance hours (Single-AZ)", p.hours, "hour", rate)
        yield _Line("database", resource, "gp3 storage, same size as the primary (Single-AZ)", gb, "GB-month", storage)
    if db.stop_off_hours and c.working_hours is not None:
        off = off_hours_per_month(c.working_hours, p.hours)
        note = _sleep_note(c.working_hours)
        # A stopped instance still bills its storage, so only the instance hours go.
        yield _Line("database", "postgres", f"off-hours stop: instance hours not billed, storage still billed ({note})", -off, "hour", _times(factor, rate))


def _cache(c: StackConfig, p: _Prices) -> Iterable[_Line]:
    cache = c.cache
    role = "primary" if cache.num_nodes == 1 else "primary + replicas"
    nodes = Decimal(cache.num_nodes)
    yield _Line("cache", "redis", f"{cache.node_type} node hours ({role}; Multi-AZ adds no surcharge)", nodes * p.hours, "node-hour", p.hourly("elasticache", cache.node_type))
    if cache.snapshot_retention_days:
        yield _Line(
            "cache", "redis",
            f"snapshot storage, {cache.snapshot_retention_days}-day retention (assumed within the free allowance of one snapshot the size of the data set)",
            Decimal(0), "GB-month", p.unit("elasticache_backup"),
        )


def _edge(c: StackConfig, p: _Prices) -> Iterable[_Line]:
    azs = c.network.az_count
    yield _Line("edge", "nlb", "Network Load Balancer hours", p.hours, "hour", p.unit("nlb"))
    yield _Line("edge", "nlb", "NLB capacity units (assumed: platform:cost.load_balancer_lcu, all month)", _d(c.cost.load_balancer_lcu) * p.hours, "NLCU-hour", p.unit("nlb_lcu"))
    yield _Line("edge", "nlb", f"public IPv4 hours (one per AZ x {azs}, internet-facing)", azs * p.hours, "IP-hour", p.unit("public_ipv4"))


def _keys(c: StackConfig, p: _Prices) -> Iterable[_Line]:
    yield _Line("keys", "key", "customer-managed KMS key (one per environment, shared by every encrypted resource)", Decimal(1), "key-month", p.unit("kms_key"))


# Who keeps a secret in Secrets Manager: the app component (the app secret), the cache
# (its AUTH token) and the database (its master credential). tests/test_cost_inventory.py
# holds this list to the secrets the plan creates.
SECRETS = ("app", "redis-auth", "db-master")


def _app(c: StackConfig, p: _Prices) -> Iterable[_Line]:
    yield _Line("app", "secrets", f"Secrets Manager secrets ({', '.join(SECRETS)})", Decimal(len(SECRETS)), "secret-month", p.unit("secrets_manager_secret"))
    # One record per hostname, plus the ACM validation CNAME of each name on the certificate.
    records = len(c.dns.api_records) + len(c.dns.web_records) + len(runtime_config.certificate_names(c.dns))
    yield _Line("app", "dns", "Cloudflare DNS records (api + web + ACM validation, Free plan)", Decimal(records), "record-month", p.unit("cloudflare_dns_record"))


def _budget(c: StackConfig, p: _Prices) -> Iterable[_Line]:
    yield _Line("budget", "budget", "AWS Budgets cost budget without actions", Decimal(1), "budget-month", p.unit("budget"))


# Days per 730-hour month: retention days over this are the months a month's data is kept.
_DAYS_PER_MONTH = Decimal(HOURS_PER_MONTH) / 24


def _assumed(c: StackConfig, field: str) -> Decimal:
    return _d(getattr(c.cost, field))


def _audit(c: StackConfig, p: _Prices) -> Iterable[_Line]:
    if not c.owns_audit:
        return  # another stack of the account builds (and pays for) the account's audit
    audit = c.audit
    yield _Line(
        "audit", "trail", "CloudTrail management events, the account's first copy (free; a second copy is $2.00 per 100,000 events)",
        Decimal(1), "trail-month", p.unit("cloudtrail_management_events_first_copy"),
    )
    # The lifecycle expires a log file after trail_retention_days, and keeps the version that
    # leaves behind as many days again (noncurrent expiration): 2 x retention in all.
    kept = Decimal(2 * audit.trail_retention_days) / _DAYS_PER_MONTH
    monthly = _assumed(c, "trail_log_gb_per_month")
    yield _Line(
        "audit", "trail-bucket",
        f"S3 Standard storage of the trail's log files at steady state (assumed: platform:cost.trail_log_gb_per_month, kept {audit.trail_retention_days} days current + {audit.trail_retention_days} noncurrent)",
        monthly * kept, "GB-month", p.unit("s3_standard_storage"),
    )
    yield _Line(
        "audit", "trail-bucket", "S3 PUT requests delivering log and digest files (assumed: platform:cost.trail_put_requests_per_month)",
        _assumed(c, "trail_put_requests_per_month") / 1000, "1k requests", p.unit("s3_put_requests"),
    )
    yield _Line(
        "audit", "trail", "KMS requests encrypting the log files (none billed: CloudTrail's reads and writes of its log files carry no key usage charge)",
        Decimal(0), "10k requests", p.unit("kms_requests"),
    )
    ingest = _assumed(c, "session_log_ingest_gb_per_month")
    yield _Line(
        "audit", "session-logs", "Session Manager session logs ingested into CloudWatch Logs (assumed: platform:cost.session_log_ingest_gb_per_month)",
        ingest, "GB", p.unit("cloudwatch_logs_ingest"),
    )
    yield _Line(
        "audit", "session-logs",
        f"session logs stored at steady state, {audit.session_log_retention_days}-day retention (as ingested; CloudWatch bills the compressed size, less)",
        ingest * Decimal(audit.session_log_retention_days) / _DAYS_PER_MONTH, "GB-month", p.unit("cloudwatch_logs_storage"),
    )


# The forwarder Lambda (infra/components/alerting.py): 128 MB, about a second a notification.
FORWARDER_GB_SECONDS_PER_INVOCATION = Decimal("0.125")


def _observability(c: StackConfig, p: _Prices) -> Iterable[_Line]:
    obs = c.observability
    metrics = obs.metrics
    gp3 = p.unit("ebs_gp3")
    if metrics.enabled:
        gb = telemetry.prometheus_volume_gb(metrics)
        yield _Line(
            "observability", "prometheus",
            f"Prometheus gp3 volume ({metrics.retention_days} d x {metrics.samples_per_second:,} samples/s x 2 bytes, +25%: observability.metrics)",
            Decimal(gb), "GB-month", gp3,
        )
    if metrics.enabled and metrics.long_term_days:
        yield _Line(
            "observability", "metrics-bucket",
            f"S3 Standard storage of the long-term metrics at steady state ({metrics.long_term_days} d, downsampled copies +10%)",
            _d(telemetry.long_term_gb(metrics)), "GB-month", p.unit("s3_standard_storage"),
        )
        yield _Line("observability", "thanos", "Thanos compactor scratch gp3 volume", Decimal(telemetry.THANOS_COMPACT_VOLUME_GB), "GB-month", gp3)
    if obs.logs.enabled:
        yield _Line("observability", "loki", "Loki gp3 volume (WAL and index cache, observability.logs.volume_gb)", Decimal(obs.logs.volume_gb), "GB-month", gp3)
        yield _Line(
            "observability", "logs-bucket",
            f"S3 Standard storage of the logs at steady state ({obs.logs.retention_days} d x platform:cost.log_stored_gb_per_day)",
            _assumed(c, "log_stored_gb_per_day") * obs.logs.retention_days, "GB-month", p.unit("s3_standard_storage"),
        )
    if obs.traces.enabled:
        yield _Line("observability", "tempo", "Tempo gp3 volume (WAL and unflushed blocks)", Decimal(telemetry.TEMPO_VOLUME_GB), "GB-month", gp3)
        yield _Line(
            "observability", "traces-bucket",
            f"S3 Standard storage of the traces at steady state ({obs.traces.retention_days} d x platform:cost.trace_stored_gb_per_day)",
            _assumed(c, "trace_stored_gb_per_day") * obs.traces.retention_days, "GB-month", p.unit("s3_standard_storage"),
        )
    buckets = telemetry.buckets(obs)
    if buckets:
        yield _Line(
            "observability", "buckets",
            f"S3 PUT requests into the telemetry buckets ({', '.join(buckets)}; platform:cost.telemetry_put_requests_per_month each)",
            _assumed(c, "telemetry_put_requests_per_month") * len(buckets) / 1000, "1k requests", p.unit("s3_put_requests"),
        )
    if obs.alerts.enabled:
        from infra import alarms

        count = alarms.alarm_count(c)
        yield _Line("observability", "alarms", f"CloudWatch standard-resolution metric alarms ({count}: database, cache, load balancer, certificate, uptime)", Decimal(count), "alarm-month", p.unit("cloudwatch_alarm_standard"))
        yield _Line("observability", "alerting", "Secrets Manager secret of the alert destinations", Decimal(1), "secret-month", p.unit("secrets_manager_secret"))
        notifications = _assumed(c, "alert_notifications_per_month")
        yield _Line(
            "observability", "alerting", "alert forwarder Lambda requests (assumed: platform:cost.alert_notifications_per_month; SNS deliveries to Lambda are free)",
            notifications / 1_000_000, "1M requests", p.unit("lambda_requests"),
        )
        yield _Line("observability", "alerting", "alert forwarder Lambda compute (128 MB, 1 s a notification)", notifications * FORWARDER_GB_SECONDS_PER_INVOCATION, "GB-second", p.unit("lambda_gb_seconds"))
    if obs.uptime.enabled:
        yield _Line("observability", "uptime", "Route 53 health check of the API (AWS endpoint)", Decimal(1), "health-check-month", p.unit("route53_health_check"))
        yield _Line("observability", "uptime", "Route 53 health check optional feature: HTTPS", Decimal(1), "health-check-month", p.unit("route53_health_check_https"))
        if obs.uptime.request_interval_seconds == 10:
            yield _Line("observability", "uptime", "Route 53 health check optional feature: fast interval (10 s)", Decimal(1), "health-check-month", p.unit("route53_health_check_fast_interval"))


# Weekly: the copy runs once a week (data_copy.schedule's seed value), so a dump kept
# `keep_dumps_days` is in the bucket that share of the week.
_DAYS_PER_WEEK = Decimal(7)


def _data_copy(c: StackConfig, p: _Prices) -> Iterable[_Line]:
    """The anonymized copy (infra/components/data_copy.py). Its Jobs' compute is inside the
    node groups' lines (they run a few minutes a week on the always-on nodes); S3 and KMS
    requests (a few a week) are cents and left out."""
    copy = c.data_copy
    if copy is None or copy.role != "source":
        return  # the target's role and CronJob cost nothing of their own
    kept = min(Decimal(copy.keep_dumps_days), _DAYS_PER_WEEK) / _DAYS_PER_WEEK
    yield _Line(
        "data", "data-copy-bucket",
        f"S3 Standard storage of the weekly dump (assumed: platform:cost.data_dump_gb, kept {copy.keep_dumps_days} of every 7 days)",
        _assumed(c, "data_dump_gb") * kept, "GB-month", p.unit("s3_standard_storage"),
    )
    yield _Line("data", "data-copy-key", "customer-managed KMS key of the dumps (the restoring account decrypts with it)", Decimal(1), "key-month", p.unit("kms_key"))
    yield _Line(
        "data", "data-image", "ECR storage of the copy's image (assumed: platform:cost.data_image_gb, the distinct layers of the images kept)",
        _assumed(c, "data_image_gb"), "GB-month", p.unit("ecr_storage"),
    )


def observability_share(config: StackConfig, cost: dict[str, Any]) -> dict[str, Any]:
    """What observability costs on its own lines, and the share of the always-on nodes'
    CPU and memory its pods request (already inside the node groups' lines)."""
    share = telemetry.node_share(config)
    monthly = sum((_d(i["monthly"] or 0) for i in cost["items"] if i["component"] == "observability"), Decimal(0))
    return {
        "monthly": float(monthly),
        "node_cpu_share": None if share is None else round(share[0], 3),
        "node_memory_share": None if share is None else round(share[1], 3),
    }


# ---------------------------------------------------------------------------- public


def estimate(config: StackConfig, catalogue: prices.Catalogue | None = None) -> dict[str, Any]:
    """The `cost` output: every line of what the program creates for this config, priced
    with the stack region's catalogue (`catalogue` replaces it, for tests and cost levers)."""
    region = config.aws.region
    cat = catalogue or prices.for_region(region)
    if cat is not None and cat.region != region:
        # Prices differ by region; pricing eu-west-1 with us-east-1 figures would be a silent lie.
        raise ValueError(f"a {cat.region} catalogue cannot price a stack in {region}")
    p = _Prices(cat)
    lines = _lines(config, p)
    out = {
        "currency": cat.currency if cat else "USD",
        "region": region,
        "prices_as_of": cat.prices_as_of if cat else None,
        "hours_per_month": int(p.hours),
        "monthly_total": _total(lines),
        "budget": config.budget.monthly_limit_usd,
        "items": [line.as_dict() for line in lines],
        # Every node group at min_size and at max_size, the rest unchanged (same assumptions).
        "node_range": {bound: _total(_lines(_sized(config, bound), p)) for bound in ("min", "max")},
        # What the total leaves out: no sourced list price in this region's catalogue.
        "unpriced": [f"{line.component} {line.resource}: {line.item}" for line in lines if line.unit_price is None],
    }
    out["observability"] = observability_share(config, out)
    return out


def _lines(config: StackConfig, p: _Prices) -> list[_Line]:
    return [line for part in (_keys, _network, _cluster, _database, _cache, _edge, _app, _budget, _audit, _observability, _data_copy) for line in part(config, p)]


def _total(lines: list[_Line]) -> float:
    return float(sum((line.monthly for line in lines if line.monthly is not None), Decimal(0)))


def _sized(config: StackConfig, bound: str) -> StackConfig:
    """The config with every node group priced at its `min_size` or `max_size`."""
    groups = [g.model_copy(update={"expected_size": getattr(g, f"{bound}_size")}) for g in config.cluster.node_groups]
    return config.model_copy(update={"cluster": config.cluster.model_copy(update={"node_groups": groups})})


def totals_by_component(cost: dict[str, Any]) -> dict[str, float]:
    """Monthly subtotal per component, in build order (components with no line are left out)."""
    sums: dict[str, Decimal] = {}
    for item in cost["items"]:
        sums[item["component"]] = sums.get(item["component"], Decimal(0)) + _d(item["monthly"] or 0)
    ordered = [name for name in COMPONENTS if name in sums] + sorted(set(sums) - set(COMPONENTS))
    return {name: float(sums[name]) for name in ordered}
