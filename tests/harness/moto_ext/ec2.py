"""EC2 network rules that AWS enforces and moto 5.2.5 does not, for the pieces
an eksctl-style VPC is built from (VPC, internet gateway, subnets, Elastic IP,
NAT gateway, route tables, VPC endpoints).

Without them a provider that creates or deletes in the wrong order passes
here and fails on AWS. Every rule cites where AWS's behaviour is documented
or observed: the botocore EC2 model (1.44.8, installed with moto; its
operation and shape documentation is the EC2 API reference), the EC2 error
code list (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html),
AWS guides, terraform-provider-aws, and errors AWS returned as quoted in
public issue trackers. Error codes are AWS's; messages are AWS's where a
source quotes them, otherwise worded after the closest quoted one.

Changed (all on moto's own backend classes, wrapping the originals, so every
other path through moto is untouched):

- CreateNatGateway: public NAT gateways need AllocationId (MissingParameter)
  and an existing allocation (InvalidAllocationID.NotFound); the answer is
  state `pending`. A VPC with no internet gateway attached, or an Elastic IP
  already associated, makes the gateway `failed` with FailureCode
  Gateway.NotAttached / Resource.AlreadyAssociated, as AWS reports them.
- DescribeNatGateways: `pending` becomes `available` (or `failed`) and
  `deleting` becomes `deleted` on the next describe that returns the
  gateway; unknown ids are NatGatewayNotFound (moto: ignored).
- DeleteNatGateway: `deleting` until the next describe; only `deleted`
  releases the gateway's network interface and Elastic IP. Unknown ids are
  NatGatewayNotFound (moto: HTTP 500).
- ReleaseAddress: refused while the address is associated (AuthFailure for a
  NAT gateway's address, InvalidIPAddress.InUse otherwise, in a non-default
  VPC). DisassociateAddress: refused for a NAT gateway's address.
- DeleteSubnet: refused while network interfaces (NAT gateways, interface
  endpoints, instances) are in the subnet; deleting it removes its route
  table associations.
- AttachInternetGateway: one internet gateway per VPC.
- DetachInternetGateway: refused while public addresses are mapped in the VPC.
- CreateRoute: an internet gateway target must be attached to the route
  table's VPC; a NAT gateway target must exist (not deleted) and be in the
  same VPC. DescribeRouteTables: routes to a deleted NAT gateway or a
  detached internet gateway are `blackhole`.
- AssociateRouteTable: same VPC, and one explicit association per subnet.
- DeleteRouteTable: the main route table cannot be deleted.
- DeleteVpc: also refused while an internet gateway or egress-only internet
  gateway is attached, non-default security groups exist, or VPC endpoints
  are not deleted.
- CreateVpcEndpoint: the service must exist in the region and offer the
  endpoint type; Gateway endpoints take route tables (existing), not
  subnets; Interface endpoints take subnets (at most one per zone), not
  route tables; security groups must exist (default: the VPC's default
  group); private DNS (the default for Interface) needs enableDnsSupport and
  enableDnsHostnames on the VPC.
- DeleteVpcEndpoints: unknown ids are returned in `Unsuccessful`.
- DeleteSecurityGroup: refused while an interface endpoint uses the group.
- CreateNatGateway, CreateRouteTable, CreateVpcEndpoint: a ClientToken makes
  the request idempotent, as the EC2 guide documents ("Ensuring idempotency
  in Amazon EC2 API requests"): a repeat with the same token and the same
  parameters answers what the first request made, and makes nothing; with
  other parameters it is IdempotentParameterMismatch. moto ignored the
  token (CreateVpcEndpoint stored it and made a second endpoint anyway).
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import iso_8601_datetime_with_milliseconds, utcnow
from moto.ec2.exceptions import (
    DependencyViolationError,
    EC2ClientError,
    InvalidSecurityGroupNotFoundError,
    InvalidServiceName,
)
from moto.ec2.models.elastic_ip_addresses import ElasticAddress, ElasticAddressBackend
from moto.ec2.models.internet_gateways import InternetGateway, InternetGatewayBackend
from moto.ec2.models.nat_gateways import NatGateway, NatGatewayBackend
from moto.ec2.models.route_tables import Route, RouteBackend
from moto.ec2.models.security_groups import SecurityGroupBackend
from moto.ec2.models.subnets import SubnetBackend
from moto.ec2.models.vpcs import VPCBackend
from moto.ec2.responses.nat_gateways import NatGateways
from moto.ec2.responses.route_tables import RouteTables
from moto.ec2.responses.vpcs import VPCs

# `self` in the backend functions below is moto's EC2Backend, which mixes in
# every EC2 backend class; the annotations name the class being patched.


def _invalid_parameter(message: str) -> EC2ClientError:
    return EC2ClientError("InvalidParameter", message)


def _invalid_parameter_value(message: str) -> EC2ClientError:
    return EC2ClientError("InvalidParameterValue", message)


def _attached_igw(backend: Any, vpc_id: str) -> InternetGateway | None:
    for igw in backend.internet_gateways.values():
        if igw.vpc is not None and igw.vpc.id == vpc_id:
            return igw
    return None


def _nat_of_eni(backend: Any, eni: Any) -> NatGateway | None:
    for nat in backend.nat_gateways.values():
        if nat._eni is eni:
            return nat
    return None


def _eni_vpc_id(eni: Any) -> str | None:
    return getattr(eni.subnet, "vpc_id", None)


def _address(backend: Any, address: str | None, allocation_id: str | None) -> ElasticAddress:
    if address:
        return backend.address_by_ip([address])[0]
    if allocation_id and not any(a.allocation_id == allocation_id for a in backend.addresses):
        # Code from the EC2 error code list; moto answered it too, with the
        # id list printed into the message.
        raise EC2ClientError(
            "InvalidAllocationID.NotFound",
            f"The allocation ID '{allocation_id}' does not exist",
        )
    return backend.address_by_allocation([allocation_id])[0]


# --- NAT gateways -----------------------------------------------------------
#
# AWS answers CreateNatGateway with state `pending` and provisions the gateway
# asynchronously: it becomes `available`, or `failed` with a FailureCode and
# FailureMessage; DeleteNatGateway makes it `deleting`, then `deleted`, and a
# deleted gateway stays visible in DescribeNatGateways for a while
# (terraform-provider-aws waitNATGatewayCreated: pending -> available, failed
# is reported with FailureCode/FailureMessage; waitNATGatewayDeleted: deleting
# -> gone). Here each transition happens on the next DescribeNatGateways that
# returns the gateway, so a provider that does not wait sees the in-between
# state, as it would on AWS.

PENDING, AVAILABLE, FAILED = "pending", "available", "failed"
DELETING, DELETED = "deleting", "deleted"

_orig_create_nat_gateway = NatGatewayBackend.create_nat_gateway
_orig_describe_nat_gateways = NatGatewayBackend.describe_nat_gateways


def _nat_not_found(nat_gateway_id: str) -> EC2ClientError:
    # terraform-provider-aws treats NatGatewayNotFound as "gone" for both
    # DeleteNatGateway and DescribeNatGateways (errCodeNatGatewayNotFound).
    return EC2ClientError("NatGatewayNotFound", f"The Nat Gateway {nat_gateway_id} was not found")


def create_nat_gateway(
    self: NatGatewayBackend,
    subnet_id: str,
    allocation_id: str | None,
    tags: dict[str, str] | None = None,
    connectivity_type: str | None = "public",
) -> NatGateway:
    connectivity = connectivity_type or "public"  # botocore: "The default is public connectivity."
    subnet = self.get_subnet(subnet_id)  # type: ignore[attr-defined]
    failure: tuple[str, str] | None = None
    if connectivity == "public":
        if not allocation_id:
            # Observed on AWS by the ACK ec2-controller e2e tests
            # (test_nat_gateway.py, test_terminal_condition_missing_parameter).
            raise EC2ClientError(
                "MissingParameter",
                "The request must include the AllocationId parameter. "
                "Add the required parameter and retry the request.",
            )
        eip = _address(self, None, allocation_id)
        # The failure codes and messages are the ones the botocore model
        # documents for NatGateway.FailureCode / FailureMessage; AWS reports
        # them on the gateway (state `failed`), not as an error of the call:
        # a DescribeNatGateways output with FailureCode Gateway.NotAttached
        # is quoted in devopsacademyau/academy#906, one with
        # Resource.AlreadyAssociated in hashicorp/terraform-provider-aws#709.
        if _attached_igw(self, subnet.vpc_id) is None:
            failure = (
                "Gateway.NotAttached",
                f"Network {subnet.vpc_id} has no Internet gateway attached",
            )
        elif eip.eni is not None or eip.instance is not None:
            failure = (
                "Resource.AlreadyAssociated",
                f"Elastic IP address {allocation_id} is already associated",
            )
    if failure is not None:
        nat = _orig_create_nat_gateway(self, subnet_id, None, tags, connectivity)
        nat.address_set[0]["allocationId"] = allocation_id
        nat.stackplan_failure = failure
    else:
        nat = _orig_create_nat_gateway(self, subnet_id, allocation_id, tags, connectivity)
    nat.state = PENDING
    # The gateway's interface is requester-managed and says what it is for,
    # as DescribeNetworkInterfaces shows on AWS.
    nat._eni.interface_type = "nat_gateway"
    nat._eni.requester_managed = True
    nat._eni.description = f"Interface for NAT Gateway {nat.id}"
    return nat


def _release_nat_network(backend: Any, nat: NatGateway) -> None:
    """What AWS does when a gateway is deleted or fails: its Elastic IP is
    disassociated (botocore DeleteNatGateway: "Deleting a public NAT gateway
    disassociates its Elastic IP address, but does not release the address")
    and its network interface goes away."""
    for eip in list(backend.addresses):
        if eip.eni is nat._eni:
            backend.disassociate_address(address=eip.public_ip)
    backend.enis.pop(nat._eni.id, None)
    nat.delete_time = iso_8601_datetime_with_milliseconds(utcnow())


def _advance(backend: Any, nat: NatGateway) -> None:
    if nat.state == PENDING:
        failure = getattr(nat, "stackplan_failure", None)
        if failure is None:
            nat.state = AVAILABLE
        else:
            nat.state = FAILED
            nat.failure_code, nat.failure_message = failure
            _release_nat_network(backend, nat)
    elif nat.state == DELETING:
        nat.state = DELETED
        _release_nat_network(backend, nat)


def describe_nat_gateways(
    self: NatGatewayBackend, filters: Any, nat_gateway_ids: list[str] | None
) -> list[NatGateway]:
    for nat_gateway_id in nat_gateway_ids or []:
        if nat_gateway_id not in self.nat_gateways:
            raise _nat_not_found(nat_gateway_id)
    # Advance what this call returns, before its `state` filter applies.
    unfiltered_state = {k: v for k, v in filters.items() if k != "state"} if filters else filters
    for nat in _orig_describe_nat_gateways(self, unfiltered_state, nat_gateway_ids):
        _advance(self, nat)
    found = _orig_describe_nat_gateways(self, filters, nat_gateway_ids)
    # moto ignores DescribeNatGateways' `tag:<key>` and `tag-key` filters
    # and answers every gateway; EC2 filters by them (botocore ec2 model,
    # DescribeNatGatewaysRequest.Filter: "tag:<key>", "tag-key"), and code
    # that finds its own gateway by tag must not see everyone else's.
    for name, values in (filters or {}).items():
        if name.startswith("tag:"):
            found = [n for n in found if n.get_filter_value(name) in values]
        elif name == "tag-key":
            found = [n for n in found if set(n.get_filter_value(name)) & set(values)]
    return found


def delete_nat_gateway(self: NatGatewayBackend, nat_gateway_id: str) -> NatGateway:
    nat = self.nat_gateways.get(nat_gateway_id)
    if nat is None:
        raise _nat_not_found(nat_gateway_id)
    if nat.state != DELETED:
        nat.state = DELETING
    return nat


# --- Elastic IP addresses ---------------------------------------------------

_orig_release_address = ElasticAddressBackend.release_address
_orig_disassociate_address = ElasticAddressBackend.disassociate_address


def _auth_failure() -> EC2ClientError:
    # A NAT gateway's address is managed by the NAT gateway: releasing or
    # disassociating it is refused with AuthFailure (kubernetes/kops#1604:
    # "error deleting elastic ip ...: AuthFailure: You do not have permission
    # to access the specified resource."; terraform-provider-aws#4675, the
    # aws_eip docs: associations with NAT gateways are AWS-managed "otherwise
    # you will see AuthFailure errors"). cluster-api-provider-aws's
    # releaseAddress (pkg/cloud/services/network/eips.go) retries
    # ReleaseAddress on AuthFailure and InvalidIPAddress.InUse for this.
    return EC2ClientError(
        "AuthFailure", "You do not have permission to access the specified resource."
    )


def release_address(
    self: ElasticAddressBackend, address: str | None = None, allocation_id: str | None = None
) -> None:
    eip = _address(self, address, allocation_id)
    if eip.eni is not None and _nat_of_eni(self, eip.eni) is not None:
        raise _auth_failure()
    vpc_id = _eni_vpc_id(eip.eni) if eip.eni is not None else None
    if vpc_id is None and eip.instance is not None:
        vpc_id = eip.instance.vpc_id
    if vpc_id is not None and not self.get_vpc(vpc_id).is_default:  # type: ignore[attr-defined]
        # botocore ReleaseAddress: "[Nondefault VPC] You must disassociate the
        # Elastic IP address before you can release it. Otherwise, Amazon EC2
        # returns an error (InvalidIPAddress.InUse)." ([Default VPC] releasing
        # disassociates, as moto does.)
        raise EC2ClientError("InvalidIPAddress.InUse", f"Address {eip.public_ip} is in use.")
    _orig_release_address(self, address=address, allocation_id=allocation_id)


def disassociate_address(
    self: ElasticAddressBackend, address: str | None = None, association_id: str | None = None
) -> None:
    eips = (
        self.address_by_ip([address])
        if address
        else self.address_by_association([association_id])  # type: ignore[list-item]
    )
    eip = eips[0]
    if eip.eni is not None and _nat_of_eni(self, eip.eni) is not None:
        nat = _nat_of_eni(self, eip.eni)
        # Internal calls (the gateway being deleted) pass; callers do not.
        if nat is not None and nat.state not in (DELETED, FAILED):
            raise _auth_failure()
    _orig_disassociate_address(self, address=address, association_id=association_id)


# --- Subnets ----------------------------------------------------------------

_orig_delete_subnet = SubnetBackend.delete_subnet


def delete_subnet(self: SubnetBackend, subnet_id: str) -> Any:
    subnet = self.get_subnet(subnet_id)
    # botocore DeleteSubnet: "You must terminate all running instances in the
    # subnet before you can delete the subnet." Any network interface in it
    # (a NAT gateway's until the gateway is `deleted`, an interface
    # endpoint's) blocks it with DependencyViolation; AWS's message is the
    # one below, as terraform destroy output quotes it ("api error
    # DependencyViolation: The subnet 'subnet-...' has dependencies and
    # cannot be deleted.").
    for eni in self.enis.values():  # type: ignore[attr-defined]
        if eni.subnet is subnet:
            raise DependencyViolationError(
                f"The subnet '{subnet_id}' has dependencies and cannot be deleted."
            )
    deleted = _orig_delete_subnet(self, subnet_id)
    # AWS drops a deleted subnet's route table association; moto kept it, so
    # the route table could never be deleted afterwards.
    for route_table in self.route_tables.values():  # type: ignore[attr-defined]
        for association_id, target in list(route_table._associations.items()):
            if target == subnet_id:
                del route_table._associations[association_id]
    return deleted


# --- Internet gateways ------------------------------------------------------

_orig_attach_internet_gateway = InternetGatewayBackend.attach_internet_gateway
_orig_detach_internet_gateway = InternetGatewayBackend.detach_internet_gateway


def attach_internet_gateway(
    self: InternetGatewayBackend, internet_gateway_id: str, vpc_id: str
) -> Any:
    igw = self.get_internet_gateway(internet_gateway_id)
    self.get_vpc(vpc_id)  # type: ignore[attr-defined]
    other = _attached_igw(self, vpc_id)
    if igw.vpc is None and other is not None:
        # A VPC has at most one internet gateway. AWS's answer, quoted in
        # terraform output: "InvalidParameterValue: Network vpc-... already
        # has an internet gateway attached".
        raise _invalid_parameter_value(f"Network {vpc_id} already has an internet gateway attached")
    return _orig_attach_internet_gateway(self, internet_gateway_id, vpc_id)


def detach_internet_gateway(
    self: InternetGatewayBackend, internet_gateway_id: str, vpc_id: str
) -> None:
    igw = self.get_internet_gateway(internet_gateway_id)
    if igw.vpc is not None and igw.vpc.id == vpc_id:
        # botocore DetachInternetGateway: "The VPC must not contain any
        # running instances with Elastic IP addresses or public IPv4
        # addresses." A NAT gateway's Elastic IP counts until the gateway is
        # deleted. AWS's message is quoted in terraform-provider-aws, whose
        # detachInternetGateway retries on DependencyViolation for this.
        for eni in self.enis.values():  # type: ignore[attr-defined]
            if eni.public_ip and _eni_vpc_id(eni) == vpc_id:
                raise DependencyViolationError(
                    f"Network {vpc_id} has some mapped public address(es). "
                    "Please unmap those public address(es) before detaching the gateway."
                )
    _orig_detach_internet_gateway(self, internet_gateway_id, vpc_id)


# --- Routes and route tables ------------------------------------------------

_orig_create_route = RouteBackend.create_route
_orig_associate_route_table = RouteBackend.associate_route_table
_orig_r_delete_route_table = RouteTables.delete_route_table


def create_route(self: RouteBackend, route_table_id: str, *args: Any, **kwargs: Any) -> Route:
    if not kwargs.get("local"):
        route_table = self.get_route_table(route_table_id)
        gateway_id = kwargs.get("gateway_id")
        if gateway_id and gateway_id.startswith("nat-"):
            # A NAT gateway given as GatewayId is looked up as a gateway:
            # "InvalidGatewayID.NotFound: The gateway ID 'nat-...' does not
            # exist" for a deleted one (devopsacademyau/academy#906).
            nat = self.nat_gateways.get(gateway_id)  # type: ignore[attr-defined]
            if nat is None or nat.state == DELETED:
                raise EC2ClientError(
                    "InvalidGatewayID.NotFound", f"The gateway ID '{gateway_id}' does not exist"
                )
            kwargs["gateway_id"] = None
            kwargs["nat_gateway_id"] = gateway_id
        elif gateway_id and gateway_id.startswith("igw-"):
            igw = self.get_internet_gateway(gateway_id)  # type: ignore[attr-defined]
            if igw.vpc is None or igw.vpc.id != route_table.vpc_id:
                # AWS: "InvalidParameterValue: route table rtb-... and network
                # gateway igw-... belong to different networks" (quoted in
                # smoketurner/serverless-vpc-plugin#147 and terraform output),
                # also when the gateway is not attached yet.
                raise _invalid_parameter_value(
                    f"route table {route_table_id} and network gateway {gateway_id} "
                    "belong to different networks"
                )
        nat_gateway_id = kwargs.get("nat_gateway_id")
        if nat_gateway_id:
            nat = self.nat_gateways.get(nat_gateway_id)  # type: ignore[attr-defined]
            if nat is None or nat.state == DELETED:
                # Code from the EC2 error code list (terraform-provider-aws
                # retries CreateRoute on it while a new gateway propagates);
                # moto created a route with no target.
                raise EC2ClientError(
                    "InvalidNatGatewayID.NotFound",
                    f"The natGateway ID '{nat_gateway_id}' does not exist",
                )
            if nat.vpc_id != route_table.vpc_id:
                # Same rule and code as for an internet gateway of another VPC.
                raise _invalid_parameter_value(
                    f"route table {route_table_id} and network gateway {nat_gateway_id} "
                    "belong to different networks"
                )
    return _orig_create_route(self, route_table_id, *args, **kwargs)


def _route_state(self: Route) -> str:
    """botocore Route.State: "The blackhole state indicates that the route's
    target isn't available (for example, the specified gateway isn't attached
    to the VPC, or the specified NAT instance has been terminated)."
    botocore DeleteNatGateway: "Deleting a NAT gateway does not delete any NAT
    gateway routes in your route tables." (moto: always `active`)."""
    if self.nat_gateway is not None and self.nat_gateway.state in (DELETED, FAILED):
        return "blackhole"
    gateway = self.gateway
    if isinstance(gateway, InternetGateway) and (
        gateway.vpc is None or gateway.vpc.id != self.route_table.vpc_id
    ):
        return "blackhole"
    return "active"


def associate_route_table(
    self: RouteBackend,
    route_table_id: str,
    gateway_id: str | None = None,
    subnet_id: str | None = None,
) -> str:
    if subnet_id and not gateway_id:
        route_table = self.get_route_table(route_table_id)
        subnet = self.get_subnet(subnet_id)  # type: ignore[attr-defined]
        if subnet.vpc_id != route_table.vpc_id:
            # Same wording as AWS's for gateways (CreateRoute above); the
            # OpenStack ec2-api, written to mirror EC2, answers this with
            # InvalidParameterValue "Route table ... and subnet ... belong to
            # different networks".
            raise _invalid_parameter_value(
                f"Route table {route_table_id} and subnet {subnet_id} belong to different networks"
            )
        for other in self.route_tables.values():
            if subnet_id in other._associations.values():
                # A subnet has one explicit association; AWS refuses a second
                # one, even to the same table (moto returned the existing id):
                # "Resource.AlreadyAssociated: the specified association for
                # route table rtb-... conflicts with an existing association"
                # (terraform-provider-aws docs, aws_route_table_association import).
                raise EC2ClientError(
                    "Resource.AlreadyAssociated",
                    f"the specified association for route table {route_table_id} "
                    "conflicts with an existing association",
                )
    return _orig_associate_route_table(self, route_table_id, gateway_id, subnet_id)


def _r_delete_route_table(self: RouteTables) -> ActionResult:
    route_table = self.ec2_backend.get_route_table(self._get_param("RouteTableId"))
    if route_table.main_association_id is not None:
        # botocore DeleteRouteTable: "You can't delete the main route table."
        # (moto deleted it). Same DependencyViolation as with associations.
        raise DependencyViolationError(
            f"The routeTable '{route_table.id}' has dependencies and cannot be deleted."
        )
    return _orig_r_delete_route_table(self)


# --- VPCs -------------------------------------------------------------------

_orig_delete_vpc = VPCBackend.delete_vpc


def delete_vpc(self: VPCBackend, vpc_id: str) -> Any:
    self.get_vpc(vpc_id)
    # botocore DeleteVpc: "You must detach or delete all gateways and
    # resources that are associated with the VPC before you can delete it.
    # For example, you must terminate all instances running in the VPC,
    # delete all security groups associated with the VPC (except the default
    # one), delete all route tables associated with the VPC (except the
    # default one), and so on." moto checked subnets, route tables and VPN
    # gateways; these are the rest of what an eksctl VPC has.
    egress_only = self.egress_only_internet_gateways.values()  # type: ignore[attr-defined]
    groups = self.groups.get(vpc_id, {}).values()  # type: ignore[attr-defined]
    blocked = (
        _attached_igw(self, vpc_id) is not None
        or any(g.vpc_id == vpc_id for g in egress_only)
        or any(not g.is_default for g in groups)
        or any(e.vpc_id == vpc_id and e.state != "deleted" for e in self.vpc_end_points.values())
    )
    if blocked:
        raise DependencyViolationError(
            f"The vpc '{vpc_id}' has dependencies and cannot be deleted."
        )
    return _orig_delete_vpc(self, vpc_id)


# --- VPC endpoints ----------------------------------------------------------

_orig_create_vpc_endpoint = VPCBackend.create_vpc_endpoint
_orig_delete_security_group = SecurityGroupBackend.delete_security_group


def _service_types(backend: Any, service_name: str) -> set[str]:
    services = backend.describe_vpc_endpoint_services([], [], None, None, backend.region_name)
    return {
        t["ServiceType"]
        for s in services["servicesDetails"]
        if s["ServiceName"] == service_name
        for t in s["ServiceType"]
    }


def create_vpc_endpoint(
    self: VPCBackend,
    vpc_id: str,
    service_name: str,
    endpoint_type: str | None,
    policy_document: str | None,
    route_table_ids: list[str],
    subnet_ids: list[str] | None = None,
    network_interface_ids: list[str] | None = None,
    dns_entries: dict[str, str] | None = None,
    client_token: str | None = None,
    security_group_ids: list[str] | None = None,
    tags: dict[str, str] | None = None,
    private_dns_enabled: bool | None = None,
) -> Any:
    vpc = self.get_vpc(vpc_id)
    endpoint_type = endpoint_type or "Gateway"  # botocore VpcEndpointType: "Default: Gateway"
    types = _service_types(self, service_name)
    if not types:
        # The services the region offers are DescribeVpcEndpointServices's.
        raise InvalidServiceName(service_name)
    if endpoint_type not in types:
        # AWS: "InvalidParameter: Endpoint type (Gateway) does not match
        # available service types ([Interface])." (nimblehq/infrastructure-templates#286)
        raise _invalid_parameter(
            f"Endpoint type ({endpoint_type}) does not match available service types "
            f"([{', '.join(sorted(types))}])."
        )
    subnet_ids = subnet_ids or []
    route_table_ids = route_table_ids or []
    security_group_ids = security_group_ids or []
    if endpoint_type == "Gateway":
        if subnet_ids:
            # AWS, quoted in nanlabs/terraform-aws-starter#18.
            raise _invalid_parameter(
                "Subnet IDs are only supported for Interface and GatewayLoadBalancer "
                "type VPC Endpoints."
            )
        for route_table_id in route_table_ids:
            # InvalidRouteTableID.NotFound when unknown (moto failed half-way,
            # after storing the endpoint).
            self.get_route_table(route_table_id)  # type: ignore[attr-defined]
        private_dns_enabled = False  # gateway endpoints have no private DNS
    elif endpoint_type == "Interface":
        if route_table_ids:
            # AWS, quoted in ansible-collections/amazon.aws#576.
            raise _invalid_parameter(
                "Route table IDs are only supported for Gateway type VPC Endpoint."
            )
        zones: dict[str, str] = {}
        for subnet_id in subnet_ids:
            subnet = self.get_subnet(subnet_id)  # type: ignore[attr-defined]
            if subnet.availability_zone in zones:
                # One endpoint subnet per zone; AWS's answer is quoted in
                # openshift/aws-vpce-operator (it removes subnets before
                # adding to avoid "DuplicateSubnetsInSameZone: Found another
                # VPC endpoint subnet in the availability zone of <existing
                # subnet>").
                raise EC2ClientError(
                    "DuplicateSubnetsInSameZone",
                    "Found another VPC endpoint subnet in the availability zone of "
                    f"{zones[subnet.availability_zone]}",
                )
            zones[subnet.availability_zone] = subnet_id
        for group_id in security_group_ids:
            if self.get_security_group_from_id(group_id) is None:  # type: ignore[attr-defined]
                raise InvalidSecurityGroupNotFoundError(group_id)
        if not security_group_ids:
            # botocore SecurityGroupIds: "If this parameter is not specified,
            # we use the default security group for the VPC."
            default = self.get_security_group_from_name(  # type: ignore[attr-defined]
                "default", vpc_id=vpc_id
            )
            security_group_ids = [default.id] if default else []
        # moto's handler reads an absent PrivateDnsEnabled as true, as the
        # EC2 API reference documents it ("Default: true").
        if private_dns_enabled and not (vpc.enable_dns_support and vpc.enable_dns_hostnames):
            # botocore PrivateDnsEnabled: "To use a private hosted zone, you
            # must set the following VPC attributes to true:
            # enableDnsHostnames and enableDnsSupport." Message as in the
            # Amazon GuardDuty user guide (runtime monitoring troubleshooting).
            raise _invalid_parameter(
                "Enabling private DNS requires both enableDnsSupport and enableDnsHostnames "
                f"VPC attributes set to true for {vpc_id}"
            )
    endpoint = _orig_create_vpc_endpoint(
        self,
        vpc_id,
        service_name,
        endpoint_type,
        policy_document,
        route_table_ids,
        subnet_ids,
        network_interface_ids,
        dns_entries,
        client_token,
        security_group_ids,
        tags,
        private_dns_enabled,
    )
    for eni_id in endpoint.network_interface_ids:
        eni = self.enis.get(eni_id)  # type: ignore[attr-defined]
        if eni is not None:
            eni.interface_type = "vpc_endpoint"
            eni.requester_managed = True
            eni.description = f"VPC Endpoint Interface {endpoint.id}"
    return endpoint


def _r_delete_vpc_endpoints(self: VPCs) -> ActionResult:
    ids = self._get_param("VpcEndpointIds", [])
    known = [i for i in ids if i in self.ec2_backend.vpc_end_points]
    self.ec2_backend.delete_vpc_endpoints(vpce_ids=known)
    # botocore DeleteVpcEndpointsResult.Unsuccessful: "Information about the
    # VPC endpoints that were not successfully deleted." (moto: always empty)
    unsuccessful = [
        {
            "Error": {
                "Code": "InvalidVpcEndpointId.NotFound",
                "Message": f"The VpcEndpoint Id '{i}' does not exist",
            },
            "ResourceId": i,
        }
        for i in ids
        if i not in known
    ]
    return ActionResult({"Unsuccessful": unsuccessful})


def delete_security_group(
    self: SecurityGroupBackend, name: str | None = None, group_id: str | None = None
) -> None:
    if group_id:
        for endpoint in self.vpc_end_points.values():  # type: ignore[attr-defined]
            if endpoint.state != "deleted" and group_id in endpoint.security_group_ids:
                # The endpoint's network interfaces use the group; AWS's
                # answer (terraform-provider-aws retries aws_security_group
                # deletion on it): "DependencyViolation: resource sg-... has
                # a dependent object".
                raise DependencyViolationError(f"resource {group_id} has a dependent object")
    return _orig_delete_security_group(self, name=name, group_id=group_id)


# --- Client tokens -------------------------------------------------------------


def _idempotent(action: str, original: Any) -> Any:
    """Wraps a create of moto's EC2 responses so that its ClientToken works
    as the EC2 guide says ("Ensuring idempotency in Amazon EC2 API
    requests", https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html):
    "If you repeat the request with the same client token and the same
    parameters, the API returns the same response as the original request
    ... If you repeat the request with the same client token but change
    one or more of the parameters, the API returns an
    IdempotentParameterMismatch error." The botocore model (1.44.8) gives
    CreateNatGateway, CreateRouteTable and CreateVpcEndpoint a ClientToken
    member. Tokens are per account and region, as moto's backend is; only
    a request that succeeded is remembered (a failed one made nothing)."""

    def create(self: Any) -> ActionResult:
        token = self._get_param("ClientToken")
        if not token:
            return original(self)
        params = sorted(
            (k, tuple(v) if isinstance(v, list) else v)
            for k, v in self.querystring.items()
            if k not in ("ClientToken", "Action", "Version")
        )
        seen = self.ec2_backend.__dict__.setdefault("stackplan_client_tokens", {})
        known = seen.get((action, token))
        if known is not None:
            if known[0] != params:
                raise EC2ClientError(
                    "IdempotentParameterMismatch",
                    f"Client token {token} was already used for a {action} request "
                    "with different parameters.",
                )
            return known[1]
        result = original(self)
        seen[(action, token)] = (params, result)
        return result

    return create


def install() -> None:
    NatGateways.create_nat_gateway = _idempotent("CreateNatGateway", NatGateways.create_nat_gateway)
    RouteTables.create_route_table = _idempotent("CreateRouteTable", RouteTables.create_route_table)
    VPCs.create_vpc_endpoint = _idempotent("CreateVpcEndpoint", VPCs.create_vpc_endpoint)
    NatGatewayBackend.create_nat_gateway = create_nat_gateway
    NatGatewayBackend.describe_nat_gateways = describe_nat_gateways
    NatGatewayBackend.delete_nat_gateway = delete_nat_gateway
    ElasticAddressBackend.release_address = release_address
    ElasticAddressBackend.disassociate_address = disassociate_address
    SubnetBackend.delete_subnet = delete_subnet
    InternetGatewayBackend.attach_internet_gateway = attach_internet_gateway
    InternetGatewayBackend.detach_internet_gateway = detach_internet_gateway
    RouteBackend.create_route = create_route
    RouteBackend.associate_route_table = associate_route_table
    Route.state = property(_route_state)  # type: ignore[assignment,method-assign]
    RouteTables.delete_route_table = _r_delete_route_table
    VPCBackend.delete_vpc = delete_vpc
    VPCBackend.create_vpc_endpoint = create_vpc_endpoint
    VPCs.delete_vpc_endpoints = _r_delete_vpc_endpoints
    SecurityGroupBackend.delete_security_group = delete_security_group
