"""A wrong Cloudflare zone id stops the program before any cloud resource is registered."""

from __future__ import annotations

import pytest

from infra.config import ConfigError
from infra.offline.harness import run_program

ZONE = "0123456789abcdef0123456789abcdef"  # the committed placeholder of every stack file
HINT = "copy the Zone ID from the zone's Overview page in the Cloudflare dashboard (right column, API section)"
PROVIDERS = {"pulumi:providers:aws", "pulumi:providers:cloudflare"}


@pytest.mark.parametrize(
    ("zones", "message"),
    [
        ({}, f"platform:dns.zone_id: {ZONE} is not the Cloudflare zone of dns.domain example.com (the API token sees no zone of that name); {HINT}"),
        ({ZONE: "example.org"}, f"platform:dns.zone_id: {ZONE} is not the Cloudflare zone of dns.domain example.com (the API token sees no zone of that name); {HINT}"),
        ({"f" * 32: "example.com"}, f"platform:dns.zone_id: {ZONE} is not the Cloudflare zone of dns.domain example.com (its zone id is {'f' * 32}); {HINT}"),
    ],
    ids=["no-zone", "zone-of-another-domain", "domain-has-another-id"],
)
def test_a_zone_that_is_not_the_domains_stops_before_any_resource(zones, message):
    with pytest.raises(ConfigError) as err:
        run_program("staging", cloudflare_zones=zones)
    assert str(err.value) == message
    # Only the two providers (configuration, nothing in the cloud) were registered.
    assert {r.type for r in err.value.registered} <= PROVIDERS


def test_the_committed_placeholder_zone_plans_offline():
    run = run_program("dev")
    assert any(r.type == "aws:ec2/vpc:Vpc" for r in run.registrations)
