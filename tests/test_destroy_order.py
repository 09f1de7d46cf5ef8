"""A destroy must not hang on what a controller created in AWS (issue: change and destroy).

The AWS Load Balancer Controller creates the NLB, its target groups and its security-group
rules for the `LoadBalancer` Service, and a finalizer on the Service waits for it to delete
them. Pulumi deletes a resource only after everything that depends on it, so the Service must
depend, directly or transitively, on everything the controller needs to do that: its
release, the node groups it runs on, its IAM role, the nodes' way out (NAT routes), and the
security group and subnets the NLB uses. Then the subnets, the internet gateway and the VPC
are deleted only after the NLB and its ENIs are gone.
"""

from __future__ import annotations

import pytest

from tests.conftest import STACKS, plan


def closure(p, urn: str) -> set[str]:
    by_urn = {s["urn"]: s for s in p.states}
    seen: set[str] = set()
    todo = [urn]
    while todo:
        for dep in by_urn[todo.pop()]["dependencies"]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


@pytest.mark.parametrize("stack", STACKS)
def test_the_load_balancer_service_goes_first_while_its_controller_and_nodes_still_run(stack):
    p = plan(stack)
    service = p.named("kubernetes:core/v1:Service", "-traefik-lb")
    needed = closure(p, service["urn"])
    must_outlive = {
        p.named("kubernetes:helm.sh/v3:Release", "-aws-load-balancer-controller")["urn"],
        p.named("kubernetes:helm.sh/v3:Release", "-traefik")["urn"],
        p.named("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "-lbc-policy-attachment")["urn"],
        p.named("aws:ec2/securityGroup:SecurityGroup", "-lb-sg")["urn"],
        *(g["urn"] for g in p.of_type("eks:index:ManagedNodeGroup")),
        *(r["urn"] for r in p.of_type("aws:ec2/route:Route") if "-private-default-" in r["urn"]),
        *(s["urn"] for s in p.of_type("aws:ec2/subnet:Subnet") if "-public-" in s["urn"]),
    }
    assert must_outlive - needed == set()
