#!/usr/bin/env python3
"""Starts moto's server with stackplan's extensions installed.

Usage: moto_server.py [-H 127.0.0.1] [-p PORT]   (moto's own server flags)

The extensions patch moto's backends, URL tables and response classes in
this process before the server builds its per-service Flask apps, so every
request, extended or not, goes through moto's normal dispatch.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import moto_ext  # noqa: E402  (needs the path above)
from moto.server import main  # noqa: E402


# --- stackplan-aws (issue 5): fixes to moto found by the AWS provider tests --
#
# UpdateSecurityGroupRuleDescriptionsIngress: moto finds the rule to update
# by equality of its source group, which includes the very description
# being changed, so a rule from another security group never matched and
# its description never changed. EC2 matches on protocol, ports and the
# source group id; so does this.


def install_aws_provider_fixes() -> None:
    from moto.ec2.models.security_groups import SecurityGroupBackend

    original = SecurityGroupBackend.update_security_group_rule_descriptions_ingress

    def update_ingress_descriptions(self, group_name_or_id, ip_protocol, from_port, to_port, ip_ranges, source_groups=None, prefix_list_ids=None, security_rule_ids=None, vpc_id=None):  # noqa: E501
        group = original(self, group_name_or_id, ip_protocol, from_port, to_port, ip_ranges, None, prefix_list_ids, security_rule_ids, vpc_id)  # noqa: E501
        for wanted in source_groups or []:
            if "Description" not in wanted:
                continue
            for rule in group.ingress_rules:
                if (
                    rule.ip_protocol == str(ip_protocol)
                    and str(rule.from_port) == str(from_port)
                    and str(rule.to_port) == str(to_port)
                    and rule.source_group.get("GroupId") == wanted.get("GroupId")
                ):
                    rule.source_group["Description"] = wanted["Description"]
        return group

    SecurityGroupBackend.update_security_group_rule_descriptions_ingress = update_ingress_descriptions

    # GetBucketVersioning: moto's serializer names the XML root
    # `GetBucketVersioningResponse`; S3 answers `VersioningConfiguration`,
    # and the Rust SDK checks the root, so every read of a bucket failed.
    from moto.s3.responses import S3Response

    def get_bucket_versioning(self):
        status = self.backend.get_bucket_versioning(self.bucket_name)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            + (f"<Status>{status}</Status>" if status else "")
            + "</VersioningConfiguration>"
        )
        return 200, {}, body

    S3Response.get_bucket_versioning = get_bucket_versioning

    # CreateSubnet: moto accepts any zone it knows in any region (a
    # us-west-2a subnet in ca-central-1); EC2 takes only the region's own
    # zones, by name or ID, and answers InvalidParameterValue naming them.
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models.subnets import SubnetBackend

    create_subnet = SubnetBackend.create_subnet

    def create_subnet_in_region_zones(self, vpc_id, cidr_block, ipv6_cidr_block=None, availability_zone=None, availability_zone_id=None, *args, **kwargs):  # noqa: E501
        zones = self.describe_availability_zones()
        names = [z.name for z in zones]
        ids = [z.zone_id for z in zones]
        if (availability_zone and availability_zone not in names) or (
            availability_zone_id and availability_zone_id not in ids
        ):
            raise EC2ClientError(
                "InvalidParameterValue",
                f"Value ({availability_zone or availability_zone_id}) for parameter "
                f"availabilityZone is invalid. Subnets can currently only be created in "
                f"the following availability zones: {', '.join(names)}.",
            )
        return create_subnet(self, vpc_id, cidr_block, ipv6_cidr_block, availability_zone, availability_zone_id, *args, **kwargs)  # noqa: E501

    SubnetBackend.create_subnet = create_subnet_in_region_zones


# --- end of stackplan-aws fixes ---------------------------------------------

if __name__ == "__main__":
    moto_ext.install()
    install_aws_provider_fixes()
    main()
