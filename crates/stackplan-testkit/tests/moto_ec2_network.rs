//! The moto extension `tests/harness/moto_ext/ec2.py` makes moto's EC2 as
//! strict as AWS for the network pieces an eksctl-style VPC is made of, so a
//! provider that creates or deletes them in the wrong order fails here as it
//! would on AWS. One test per rule, driven over HTTP with the real SDK, each
//! asserting AWS's error code and citing where AWS's behaviour is documented
//! or observed; the last test builds and tears down the whole layout in the
//! right order.
//!
//! All tests share one moto (`Emulators::shared`): every resource is the
//! test's own, and NAT gateways are always described by id, because a
//! describe is what moves a NAT gateway to its next state.

mod common;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, DomainType, NatGateway, NatGatewayState, RouteState, VpcEndpointType,
};
use stackplan_testkit::{Emulators, unique_name};

use common::{subnet, vpc};

async fn ec2() -> Client {
    let emulators = Emulators::shared().expect("emulators (run `just emulators-install` once)");
    Client::new(&emulators.aws_config().await)
}

/// Asserts that `result` is AWS error `code`; returns the error's message.
fn refused<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, E>,
    code: &str,
    what: &str,
) -> String {
    let err = match result {
        Ok(output) => panic!("{what}: succeeded ({output:?}); AWS answers {code}"),
        Err(err) => err,
    };
    assert_eq!(err.code(), Some(code), "{what}: {err:?}");
    err.message().unwrap_or_default().to_owned()
}

async fn set_dns_hostnames(ec2: &Client, vpc: &str, on: bool) {
    ec2.modify_vpc_attribute()
        .vpc_id(vpc)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(on).build())
        .send()
        .await
        .expect("ModifyVpcAttribute enableDnsHostnames");
}

async fn internet_gateway(ec2: &Client) -> String {
    ec2.create_internet_gateway()
        .send()
        .await
        .expect("CreateInternetGateway")
        .internet_gateway
        .and_then(|g| g.internet_gateway_id)
        .expect("igw id")
}

async fn attach(ec2: &Client, igw: &str, vpc: &str) {
    ec2.attach_internet_gateway()
        .internet_gateway_id(igw)
        .vpc_id(vpc)
        .send()
        .await
        .expect("AttachInternetGateway");
}

/// An Elastic IP for use in a VPC; returns its allocation id.
async fn elastic_ip(ec2: &Client) -> String {
    let out = ec2
        .allocate_address()
        .domain(DomainType::Vpc)
        .send()
        .await
        .expect("AllocateAddress");
    assert_eq!(out.domain(), Some(&DomainType::Vpc));
    out.allocation_id.expect("allocation id")
}

async fn create_nat(ec2: &Client, subnet: &str, allocation: &str) -> NatGateway {
    ec2.create_nat_gateway()
        .subnet_id(subnet)
        .allocation_id(allocation)
        .send()
        .await
        .expect("CreateNatGateway")
        .nat_gateway
        .expect("nat gateway")
}

/// DescribeNatGateways for one gateway, by id.
async fn describe_nat(ec2: &Client, id: &str) -> NatGateway {
    let mut gateways = ec2
        .describe_nat_gateways()
        .nat_gateway_ids(id)
        .send()
        .await
        .expect("DescribeNatGateways")
        .nat_gateways
        .unwrap_or_default();
    assert_eq!(gateways.len(), 1, "{id}");
    gateways.remove(0)
}

/// A NAT gateway that has reached `available`.
async fn available_nat(ec2: &Client, subnet: &str, allocation: &str) -> String {
    let id = create_nat(ec2, subnet, allocation)
        .await
        .nat_gateway_id
        .expect("nat id");
    assert_eq!(
        describe_nat(ec2, &id).await.state(),
        Some(&NatGatewayState::Available)
    );
    id
}

/// Deletes a NAT gateway and waits for `deleted`, as a provider must.
async fn delete_nat(ec2: &Client, id: &str) {
    ec2.delete_nat_gateway()
        .nat_gateway_id(id)
        .send()
        .await
        .expect("DeleteNatGateway");
    for _ in 0..10 {
        if describe_nat(ec2, id).await.state() == Some(&NatGatewayState::Deleted) {
            return;
        }
    }
    panic!("{id} never reached deleted");
}

async fn route_table(ec2: &Client, vpc: &str) -> String {
    ec2.create_route_table()
        .vpc_id(vpc)
        .send()
        .await
        .expect("CreateRouteTable")
        .route_table
        .and_then(|t| t.route_table_id)
        .expect("route table id")
}

async fn associate(ec2: &Client, route_table: &str, subnet: &str) -> String {
    ec2.associate_route_table()
        .route_table_id(route_table)
        .subnet_id(subnet)
        .send()
        .await
        .expect("AssociateRouteTable")
        .association_id
        .expect("association id")
}

async fn main_route_table(ec2: &Client, vpc: &str) -> String {
    let tables = ec2
        .describe_route_tables()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(vpc)
                .build(),
        )
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("association.main")
                .values("true")
                .build(),
        )
        .send()
        .await
        .expect("DescribeRouteTables")
        .route_tables
        .unwrap_or_default();
    assert_eq!(tables.len(), 1, "one main route table in {vpc}");
    tables[0].route_table_id.clone().expect("route table id")
}

async fn route_state(ec2: &Client, route_table: &str, destination: &str) -> Option<RouteState> {
    ec2.describe_route_tables()
        .route_table_ids(route_table)
        .send()
        .await
        .expect("DescribeRouteTables")
        .route_tables
        .unwrap_or_default()
        .into_iter()
        .flat_map(|t| t.routes.unwrap_or_default())
        .find(|r| r.destination_cidr_block() == Some(destination))
        .and_then(|r| r.state)
}

async fn security_group(ec2: &Client, vpc: &str) -> String {
    ec2.create_security_group()
        .group_name(unique_name("sg"))
        .description("test")
        .vpc_id(vpc)
        .send()
        .await
        .expect("CreateSecurityGroup")
        .group_id
        .expect("group id")
}

fn service(name: &str) -> String {
    format!("com.amazonaws.us-west-2.{name}")
}

// --- NAT gateways ------------------------------------------------------------

/// A public NAT gateway needs an internet gateway on its VPC. AWS accepts the
/// call and the gateway fails: DescribeNatGateways shows `failed` with
/// FailureCode Gateway.NotAttached ("Network vpc-xxxxxxxx has no Internet
/// gateway attached", botocore EC2 model, NatGateway.FailureMessage; such a
/// describe output is quoted in devopsacademyau/academy#906). A provider that
/// waits for `available` (as terraform-provider-aws's waitNATGatewayCreated
/// does) fails; the Elastic IP stays free.
#[tokio::test]
async fn a_nat_gateway_needs_an_internet_gateway_on_its_vpc() {
    let ec2 = ec2().await;
    let vpc = vpc(&ec2, "10.60.0.0/16").await;
    let public = subnet(&ec2, &vpc, "10.60.0.0/24", "us-west-2a").await;
    let allocation = elastic_ip(&ec2).await;

    let created = create_nat(&ec2, &public, &allocation).await;
    assert_eq!(created.state(), Some(&NatGatewayState::Pending));
    let id = created.nat_gateway_id.expect("nat id");
    let failed = describe_nat(&ec2, &id).await;
    assert_eq!(failed.state(), Some(&NatGatewayState::Failed));
    assert_eq!(failed.failure_code(), Some("Gateway.NotAttached"));
    assert_eq!(
        failed.failure_message(),
        Some(format!("Network {vpc} has no Internet gateway attached").as_str())
    );
    assert!(failed.delete_time().is_some());

    // With the internet gateway attached first, the same call succeeds.
    let igw = internet_gateway(&ec2).await;
    attach(&ec2, &igw, &vpc).await;
    available_nat(&ec2, &public, &allocation).await;
}

/// A public NAT gateway needs an Elastic IP: none at all is MissingParameter
/// (observed on AWS by the ACK ec2-controller e2e test
/// test_terminal_condition_missing_parameter), an unknown allocation is
/// InvalidAllocationID.NotFound (EC2 error codes), and one already in use
/// fails the gateway with Resource.AlreadyAssociated ("Elastic IP address
/// eipalloc-xxxxxxxx is already associated", botocore
/// NatGateway.FailureMessage; seen on AWS in
/// hashicorp/terraform-provider-aws#709).
#[tokio::test]
async fn a_public_nat_gateway_needs_an_elastic_ip_of_its_own() {
    let ec2 = ec2().await;
    let vpc = vpc(&ec2, "10.61.0.0/16").await;
    let igw = internet_gateway(&ec2).await;
    attach(&ec2, &igw, &vpc).await;
    let public = subnet(&ec2, &vpc, "10.61.0.0/24", "us-west-2a").await;

    refused(
        ec2.create_nat_gateway().subnet_id(&public).send().await,
        "MissingParameter",
        "CreateNatGateway without AllocationId",
    );
    refused(
        ec2.create_nat_gateway()
            .subnet_id(&public)
            .allocation_id("eipalloc-0123456789abcdef0")
            .send()
            .await,
        "InvalidAllocationID.NotFound",
        "CreateNatGateway with an unknown allocation",
    );

    let allocation = elastic_ip(&ec2).await;
    available_nat(&ec2, &public, &allocation).await;
    let second = create_nat(&ec2, &public, &allocation)
        .await
        .nat_gateway_id
        .expect("nat id");
    let failed = describe_nat(&ec2, &second).await;
    assert_eq!(failed.state(), Some(&NatGatewayState::Failed));
    assert_eq!(failed.failure_code(), Some("Resource.AlreadyAssociated"));
}

/// NAT gateway lifecycle as on AWS: CreateNatGateway answers `pending`, then
/// `available`; DeleteNatGateway makes it `deleting`, then `deleted`, and a
/// deleted gateway stays visible in DescribeNatGateways (terraform-provider-aws
/// waitNATGatewayCreated / waitNATGatewayDeleted). Unknown ids are
/// NatGatewayNotFound (terraform-provider-aws errCodeNatGatewayNotFound).
#[tokio::test]
async fn a_nat_gateway_is_pending_then_available_and_deleting_then_deleted() {
    let ec2 = ec2().await;
    let vpc = vpc(&ec2, "10.62.0.0/16").await;
    let igw = internet_gateway(&ec2).await;
    attach(&ec2, &igw, &vpc).await;
    let public = subnet(&ec2, &vpc, "10.62.0.0/24", "us-west-2a").await;
    let allocation = elastic_ip(&ec2).await;

    let created = create_nat(&ec2, &public, &allocation).await;
    assert_eq!(created.state(), Some(&NatGatewayState::Pending));
    let id = created.nat_gateway_id.expect("nat id");
    let available = describe_nat(&ec2, &id).await;
    assert_eq!(available.state(), Some(&NatGatewayState::Available));
    assert_eq!(available.vpc_id(), Some(vpc.as_str()));
    let address = &available.nat_gateway_addresses()[0];
    assert_eq!(address.allocation_id(), Some(allocation.as_str()));
    assert!(address.public_ip().is_some());

    let deleted = ec2
        .delete_nat_gateway()
        .nat_gateway_id(&id)
        .send()
        .await
        .expect("DeleteNatGateway");
    assert_eq!(deleted.nat_gateway_id(), Some(id.as_str()));
    let gone = describe_nat(&ec2, &id).await;
    assert_eq!(gone.state(), Some(&NatGatewayState::Deleted));
    assert!(gone.delete_time().is_some());
    // Still listed, still deleted.
    assert_eq!(
        describe_nat(&ec2, &id).await.state(),
        Some(&NatGatewayState::Deleted)
    );

    let unknown = "nat-0123456789abcdef0";
    refused(
        ec2.delete_nat_gateway()
            .nat_gateway_id(unknown)
            .send()
            .await,
        "NatGatewayNotFound",
        "DeleteNatGateway of an unknown id",
    );
    refused(
        ec2.describe_nat_gateways()
            .nat_gateway_ids(unknown)
            .send()
            .await,
        "NatGatewayNotFound",
        "DescribeNatGateways of an unknown id",
    );
}

/// Until a NAT gateway is `deleted` it holds its Elastic IP and its subnet:
/// ReleaseAddress and DisassociateAddress of its address are AuthFailure
/// (kubernetes/kops#1604 quotes AWS: "AuthFailure: You do not have permission
/// to access the specified resource."; terraform-provider-aws#4675), and
/// DeleteSubnet is DependencyViolation (botocore DeleteSubnet: the subnet's
/// network interfaces must be gone). Once deleted, its address is
/// disassociated but not released (botocore DeleteNatGateway).
#[tokio::test]
async fn a_nat_gateway_holds_its_elastic_ip_and_subnet_until_deleted() {
    let ec2 = ec2().await;
    let vpc = vpc(&ec2, "10.63.0.0/16").await;
    let igw = internet_gateway(&ec2).await;
    attach(&ec2, &igw, &vpc).await;
    let public = subnet(&ec2, &vpc, "10.63.0.0/24", "us-west-2a").await;
    let allocation = elastic_ip(&ec2).await;
    let nat = available_nat(&ec2, &public, &allocation).await;

    let address = ec2
        .describe_addresses()
        .allocation_ids(&allocation)
        .send()
        .await
        .expect("DescribeAddresses")
        .addresses
        .unwrap_or_default()
        .remove(0);
    let association = address.association_id.clone().expect("associated");
    refused(
        ec2.disassociate_address()
            .association_id(&association)
            .send()
            .await,
        "AuthFailure",
        "DisassociateAddress of a NAT gateway's address",
    );

    ec2.delete_nat_gateway()
        .nat_gateway_id(&nat)
        .send()
        .await
        .expect("DeleteNatGateway");
    // `deleting`: nothing is released yet.
    refused(
        ec2.release_address()
            .allocation_id(&allocation)
            .send()
            .await,
        "AuthFailure",
        "ReleaseAddress while the NAT gateway is deleting",
    );
    refused(
        ec2.delete_subnet().subnet_id(&public).send().await,
        "DependencyViolation",
        "DeleteSubnet while the NAT gateway is deleting",
    );

    assert_eq!(
        describe_nat(&ec2, &nat).await.state(),
        Some(&NatGatewayState::Deleted)
    );
    let address = ec2
        .describe_addresses()
        .allocation_ids(&allocation)
        .send()
        .await
        .expect("DescribeAddresses")
        .addresses
        .unwrap_or_default()
        .remove(0);
    assert_eq!(
        address.association_id(),
        None,
        "disassociated, not released"
    );
    ec2.release_address()
        .allocation_id(&allocation)
        .send()
        .await
        .expect("ReleaseAddress after deleted");
    ec2.delete_subnet()
        .subnet_id(&public)
        .send()
        .await
        .expect("DeleteSubnet after deleted");
}

/// ReleaseAddress of an address associated with anything in a non-default
/// VPC is InvalidIPAddress.InUse (botocore ReleaseAddress: "[Nondefault VPC]
/// You must disassociate the Elastic IP address before you can release it.
/// Otherwise, Amazon EC2 returns an error (InvalidIPAddress.InUse).").
#[tokio::test]
async fn an_associated_elastic_ip_cannot_be_released() {
    let ec2 = ec2().await;
    let vpc = vpc(&ec2, "10.64.0.0/16").await;
    let igw = internet_gateway(&ec2).await;
    attach(&ec2, &igw, &vpc).await;
    let public = subnet(&ec2, &vpc, "10.64.0.0/24", "us-west-2a").await;
    let eni = ec2
        .create_network_interface()
        .subnet_id(&public)
        .send()
        .await
        .expect("CreateNetworkInterface")
        .network_interface
        .and_then(|n| n.network_interface_id)
        .expect("eni id");
    let allocation = elastic_ip(&ec2).await;
    let association = ec2
        .associate_address()
        .allocation_id(&allocation)
        .network_interface_id(&eni)
        .send()
        .await
        .expect("AssociateAddress")
        .association_id
        .expect("association id");
    refused(
        ec2.release_address()
            .allocation_id(&allocation)
            .send()
            .await,
        "InvalidIPAddress.InUse",
        "ReleaseAddress of an associated address",
    );
    ec2.disassociate_address()
        .association_id(&association)
        .send()
        .await
        .expect("DisassociateAddress");
    ec2.release_address()
        .allocation_id(&allocation)
        .send()
        .await
        .expect("ReleaseAddress");
    ec2.delete_network_interface()
        .network_interface_id(&eni)
        .send()
        .await
        .expect("DeleteNetworkInterface");
}

// --- Internet gateways ----------------------------------------------------------

/// DetachInternetGateway is refused while public addresses are mapped in the
/// VPC, a NAT gateway's included until it is deleted (botocore
/// DetachInternetGateway; AWS's message "Network vpc-... has some mapped
/// public address(es). Please unmap those public address(es) before
/// detaching the gateway.", on which terraform-provider-aws's
/// detachInternetGateway retries).
#[tokio::test]
async fn an_internet_gateway_cannot_be_detached_while_public_addresses_are_mapped() {
    let ec2 = ec2().await;
    let vpc = vpc(&ec2, "10.65.0.0/16").await;
    let igw = internet_gateway(&ec2).await;
    attach(&ec2, &igw, &vpc).await;
    let public = subnet(&ec2, &vpc, "10.65.0.0/24", "us-west-2a").await;
    let allocation = elastic_ip(&ec2).await;
    let nat = available_nat(&ec2, &public, &allocation).await;

    let detach = || {
        ec2.detach_internet_gateway()
            .internet_gateway_id(&igw)
            .vpc_id(&vpc)
            .send()
    };
    let message = refused(
        detach().await,
        "DependencyViolation",
        "DetachInternetGateway with a NAT gateway's address mapped",
    );
    assert!(
        message.contains("has some mapped public address(es)"),
        "{message}"
    );

    delete_nat(&ec2, &nat).await;
    detach().await.expect("DetachInternetGateway");
    ec2.delete_internet_gateway()
        .internet_gateway_id(&igw)
        .send()
        .await
        .expect("DeleteInternetGateway");
}

/// DeleteInternetGateway while attached is DependencyViolation (botocore
/// DeleteInternetGateway: "You must detach the internet gateway from the VPC
/// before you can delete it."). moto already refused it.
#[tokio::test]
async fn an_attached_internet_gateway_cannot_be_deleted() {
    let ec2 = ec2().await;
    let vpc = vpc(&ec2, "10.66.0.0/16").await;
    let igw = internet_gateway(&ec2).await;
    attach(&ec2, &igw, &vpc).await;
    refused(
        ec2.delete_internet_gateway()
            .internet_gateway_id(&igw)
            .send()
            .await,
        "DependencyViolation",
        "DeleteInternetGateway while attached",
    );
    ec2.detach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc)
        .send()
        .await
        .expect("DetachInternetGateway");
    ec2.delete_internet_gateway()
        .internet_gateway_id(&igw)
        .send()
        .await
        .expect("DeleteInternetGateway");
}

/// A VPC has one internet gateway: attaching a second is
/// InvalidParameterValue "Network vpc-... already has an internet gateway
/// attached" (AWS's answer as quoted in terraform output).
#[tokio::test]
async fn a_vpc_has_at_most_one_internet_gateway() {
    let ec2 = ec2().await;
    let vpc = vpc(&ec2, "10.67.0.0/16").await;
    let first = internet_gateway(&ec2).await;
    attach(&ec2, &first, &vpc).await;
    let second = internet_gateway(&ec2).await;
    refused(
        ec2.attach_internet_gateway()
            .internet_gateway_id(&second)
            .vpc_id(&vpc)
            .send()
            .await,
        "InvalidParameterValue",
        "AttachInternetGateway of a second gateway",
    );
}

// --- Routes and route tables ---------------------------------------------------

/// A route to an internet gateway needs the gateway attached to the route
/// table's VPC: "InvalidParameterValue: route table rtb-... and network
/// gateway igw-... belong to different networks" (AWS's answer, quoted in
/// smoketurner/serverless-vpc-plugin#147 for a gateway not attached yet).
#[tokio::test]
async fn a_route_to_an_internet_gateway_needs_it_attached_to_the_route_tables_vpc() {
    let ec2 = ec2().await;
    let vpc_a = vpc(&ec2, "10.68.0.0/16").await;
    let vpc_b = vpc(&ec2, "10.69.0.0/16").await;
    let table = route_table(&ec2, &vpc_a).await;
    let igw = internet_gateway(&ec2).await;
    let route = || {
        ec2.create_route()
            .route_table_id(&table)
            .destination_cidr_block("0.0.0.0/0")
            .gateway_id(&igw)
            .send()
    };
    let message = refused(
        route().await,
        "InvalidParameterValue",
        "CreateRoute to a detached internet gateway",
    );
    assert!(
        message.contains("belong to different networks"),
        "{message}"
    );

    attach(&ec2, &igw, &vpc_b).await;
    refused(
        route().await,
        "InvalidParameterValue",
        "CreateRoute to another VPC's internet gateway",
    );

    ec2.detach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc_b)
        .send()
        .await
        .expect("DetachInternetGateway");
    attach(&ec2, &igw, &vpc_a).await;
    route().await.expect("CreateRoute");
    assert_eq!(
        route_state(&ec2, &table, "0.0.0.0/0").await,
        Some(RouteState::Active)
    );
}

/// A route to a NAT gateway needs the gateway to exist in the route table's
/// VPC: unknown is InvalidNatGatewayID.NotFound (EC2 error codes; moto made a
/// route with no target), another VPC's is InvalidParameterValue. When the
/// gateway is deleted the route stays and becomes `blackhole` (botocore
/// DeleteNatGateway: routes are not deleted; Route.State: blackhole when the
/// target isn't available).
#[tokio::test]
async fn a_route_to_a_nat_gateway_needs_it_to_exist_in_the_same_vpc() {
    let ec2 = ec2().await;
    let vpc_a = vpc(&ec2, "10.70.0.0/16").await;
    let vpc_b = vpc(&ec2, "10.71.0.0/16").await;
    let table = route_table(&ec2, &vpc_a).await;
    let route = |nat: &str| {
        ec2.create_route()
            .route_table_id(&table)
            .destination_cidr_block("0.0.0.0/0")
            .nat_gateway_id(nat)
            .send()
    };
    refused(
        route("nat-0123456789abcdef0").await,
        "InvalidNatGatewayID.NotFound",
        "CreateRoute to an unknown NAT gateway",
    );

    let igw_b = internet_gateway(&ec2).await;
    attach(&ec2, &igw_b, &vpc_b).await;
    let public_b = subnet(&ec2, &vpc_b, "10.71.0.0/24", "us-west-2a").await;
    let nat_b = available_nat(&ec2, &public_b, &elastic_ip(&ec2).await).await;
    refused(
        route(&nat_b).await,
        "InvalidParameterValue",
        "CreateRoute to another VPC's NAT gateway",
    );

    let igw_a = internet_gateway(&ec2).await;
    attach(&ec2, &igw_a, &vpc_a).await;
    let public_a = subnet(&ec2, &vpc_a, "10.70.0.0/24", "us-west-2a").await;
    let nat_a = available_nat(&ec2, &public_a, &elastic_ip(&ec2).await).await;
    route(&nat_a).await.expect("CreateRoute to the NAT gateway");
    assert_eq!(
        route_state(&ec2, &table, "0.0.0.0/0").await,
        Some(RouteState::Active)
    );
    delete_nat(&ec2, &nat_a).await;
    assert_eq!(
        route_state(&ec2, &table, "0.0.0.0/0").await,
        Some(RouteState::Blackhole)
    );
    refused(
        route(&nat_a).await,
        "InvalidNatGatewayID.NotFound",
        "CreateRoute to a deleted NAT gateway",
    );
}

/// A second route to the same destination is RouteAlreadyExists (EC2 error
/// codes). moto already refused it.
#[tokio::test]
async fn a_route_table_has_one_route_per_destination() {
    let ec2 = ec2().await;
    let vpc = vpc(&ec2, "10.72.0.0/16").await;
    let igw = internet_gateway(&ec2).await;
    attach(&ec2, &igw, &vpc).await;
    let table = route_table(&ec2, &vpc).await;
    let route = || {
        ec2.create_route()
            .route_table_id(&table)
            .destination_cidr_block("0.0.0.0/0")
            .gateway_id(&igw)
            .send()
    };
    route().await.expect("CreateRoute");
    refused(
        route().await,
        "RouteAlreadyExists",
        "CreateRoute to an existing destination",
    );
}

/// A subnet has at most one explicit route table association, even to the
/// same table: Resource.AlreadyAssociated "the specified association for
/// route table rtb-... conflicts with an existing association"
/// (terraform-provider-aws docs, aws_route_table_association; moto answered
/// the existing association). Subnet and table must share a VPC
/// (InvalidParameterValue, as the OpenStack ec2-api mirrors it).
#[tokio::test]
async fn a_subnet_has_one_explicit_route_table_association_in_its_own_vpc() {
    let ec2 = ec2().await;
    let vpc_a = vpc(&ec2, "10.73.0.0/16").await;
    let vpc_b = vpc(&ec2, "10.74.0.0/16").await;
    let private = subnet(&ec2, &vpc_a, "10.73.0.0/24", "us-west-2a").await;
    let first = route_table(&ec2, &vpc_a).await;
    let second = route_table(&ec2, &vpc_a).await;
    let other_vpc = route_table(&ec2, &vpc_b).await;

    refused(
        ec2.associate_route_table()
            .route_table_id(&other_vpc)
            .subnet_id(&private)
            .send()
            .await,
        "InvalidParameterValue",
        "AssociateRouteTable across VPCs",
    );
    let association = associate(&ec2, &first, &private).await;
    for table in [&first, &second] {
        refused(
            ec2.associate_route_table()
                .route_table_id(table)
                .subnet_id(&private)
                .send()
                .await,
            "Resource.AlreadyAssociated",
            "AssociateRouteTable of an associated subnet",
        );
    }
    // Moving a subnet is ReplaceRouteTableAssociation, or disassociate first.
    ec2.disassociate_route_table()
        .association_id(&association)
        .send()
        .await
        .expect("DisassociateRouteTable");
    associate(&ec2, &second, &private).await;
}

/// DeleteRouteTable with subnet associations is DependencyViolation (botocore
/// DeleteRouteTable: "You must disassociate the route table from any subnets
/// before you can delete it."); moto already refused it. Deleting the subnet
/// drops its association, as on AWS (moto kept it).
#[tokio::test]
async fn a_route_table_with_subnet_associations_cannot_be_deleted() {
    let ec2 = ec2().await;
    let vpc = vpc(&ec2, "10.75.0.0/16").await;
    let private = subnet(&ec2, &vpc, "10.75.0.0/24", "us-west-2a").await;
    let table = route_table(&ec2, &vpc).await;
    associate(&ec2, &table, &private).await;
    refused(
        ec2.delete_route_table().route_table_id(&table).send().await,
        "DependencyViolation",
        "DeleteRouteTable with an association",
    );
    ec2.delete_subnet()
        .subnet_id(&private)
        .send()
        .await
        .expect("DeleteSubnet");
    ec2.delete_route_table()
        .route_table_id(&table)
        .send()
        .await
        .expect("DeleteRouteTable once its subnet is gone");
}

/// The main route table cannot be deleted (botocore DeleteRouteTable: "You
/// can't delete the main route table."; moto deleted it); DeleteVpc deletes
/// it.
#[tokio::test]
async fn the_main_route_table_cannot_be_deleted() {
    let ec2 = ec2().await;
    let vpc = vpc(&ec2, "10.76.0.0/16").await;
    let main = main_route_table(&ec2, &vpc).await;
    refused(
        ec2.delete_route_table().route_table_id(&main).send().await,
        "DependencyViolation",
        "DeleteRouteTable of the main route table",
    );
    ec2.delete_vpc()
        .vpc_id(&vpc)
        .send()
        .await
        .expect("DeleteVpc");
}

// --- VPCs and subnets -------------------------------------------------------------

/// DeleteVpc is DependencyViolation while the VPC has subnets, non-main route
/// tables (moto already), an attached internet gateway or non-default
/// security groups (added) (botocore DeleteVpc: "You must detach or delete
/// all gateways and resources that are associated with the VPC before you
/// can delete it.").
#[tokio::test]
async fn a_vpc_with_dependencies_cannot_be_deleted() {
    let ec2 = ec2().await;
    let vpc = vpc(&ec2, "10.77.0.0/16").await;
    let delete = || ec2.delete_vpc().vpc_id(&vpc).send();

    let private = subnet(&ec2, &vpc, "10.77.0.0/24", "us-west-2a").await;
    refused(
        delete().await,
        "DependencyViolation",
        "DeleteVpc with a subnet",
    );
    ec2.delete_subnet()
        .subnet_id(&private)
        .send()
        .await
        .expect("DeleteSubnet");

    let table = route_table(&ec2, &vpc).await;
    refused(
        delete().await,
        "DependencyViolation",
        "DeleteVpc with a route table",
    );
    ec2.delete_route_table()
        .route_table_id(&table)
        .send()
        .await
        .expect("DeleteRouteTable");

    let igw = internet_gateway(&ec2).await;
    attach(&ec2, &igw, &vpc).await;
    refused(
        delete().await,
        "DependencyViolation",
        "DeleteVpc with an internet gateway attached",
    );
    ec2.detach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc)
        .send()
        .await
        .expect("DetachInternetGateway");

    let group = security_group(&ec2, &vpc).await;
    refused(
        delete().await,
        "DependencyViolation",
        "DeleteVpc with a security group",
    );
    ec2.delete_security_group()
        .group_id(&group)
        .send()
        .await
        .expect("DeleteSecurityGroup");

    delete().await.expect("DeleteVpc");
}

/// ModifySubnetAttribute MapPublicIpOnLaunch is reported by DescribeSubnets,
/// off by default for a subnet of a non-default VPC (EC2 user guide, "Modify
/// the public IPv4 addressing attribute for your subnet"). moto already did.
#[tokio::test]
async fn map_public_ip_on_launch_is_reported_by_describe_subnets() {
    let ec2 = ec2().await;
    let vpc = vpc(&ec2, "10.78.0.0/16").await;
    let public = subnet(&ec2, &vpc, "10.78.0.0/24", "us-west-2a").await;
    let mapped = || async {
        ec2.describe_subnets()
            .subnet_ids(&public)
            .send()
            .await
            .expect("DescribeSubnets")
            .subnets
            .unwrap_or_default()[0]
            .map_public_ip_on_launch
    };
    assert_eq!(mapped().await, Some(false));
    ec2.modify_subnet_attribute()
        .subnet_id(&public)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .expect("ModifySubnetAttribute");
    assert_eq!(mapped().await, Some(true));
}

/// AllocateAddress Domain=vpc answers an allocation id; ReleaseAddress of an
/// unknown one is InvalidAllocationID.NotFound (EC2 error codes), so is
/// releasing it twice. moto already did (with an odd message, now AWS's).
#[tokio::test]
async fn elastic_ips_are_allocated_for_vpcs_and_released_once() {
    let ec2 = ec2().await;
    let allocation = elastic_ip(&ec2).await;
    assert!(allocation.starts_with("eipalloc-"), "{allocation}");
    ec2.release_address()
        .allocation_id(&allocation)
        .send()
        .await
        .expect("ReleaseAddress");
    refused(
        ec2.release_address()
            .allocation_id(&allocation)
            .send()
            .await,
        "InvalidAllocationID.NotFound",
        "ReleaseAddress twice",
    );
    refused(
        ec2.release_address()
            .allocation_id("eipalloc-0123456789abcdef0")
            .send()
            .await,
        "InvalidAllocationID.NotFound",
        "ReleaseAddress of an unknown allocation",
    );
}

// --- VPC endpoints ----------------------------------------------------------------

/// CreateVpcEndpoint needs a service the region offers (InvalidServiceName,
/// as DescribeVpcEndpointServices lists them) with the endpoint type asked
/// for: "InvalidParameter: Endpoint type (Gateway) does not match available
/// service types ([Interface])." (nimblehq/infrastructure-templates#286). The
/// type defaults to Gateway (botocore VpcEndpointType).
#[tokio::test]
async fn a_vpc_endpoint_needs_a_service_the_region_offers_with_that_type() {
    let ec2 = ec2().await;
    let vpc = vpc(&ec2, "10.79.0.0/16").await;
    refused(
        ec2.create_vpc_endpoint()
            .vpc_id(&vpc)
            .service_name(service("no-such-service"))
            .send()
            .await,
        "InvalidServiceName",
        "CreateVpcEndpoint of an unknown service",
    );
    let message = refused(
        ec2.create_vpc_endpoint()
            .vpc_id(&vpc)
            .service_name(service("ecr.api"))
            .send()
            .await,
        "InvalidParameter",
        "a Gateway endpoint for ecr.api",
    );
    assert!(message.contains("does not match"), "{message}");
    let services = ec2
        .describe_vpc_endpoint_services()
        .service_names(service("s3"))
        .send()
        .await
        .expect("DescribeVpcEndpointServices")
        .service_names
        .unwrap_or_default();
    assert!(services.contains(&service("s3")), "{services:?}");
}

/// A Gateway endpoint (S3) takes route tables and adds the service's prefix
/// list route to them; it takes no subnets ("InvalidParameter: Subnet IDs
/// are only supported for Interface and GatewayLoadBalancer type VPC
/// Endpoints.", nanlabs/terraform-aws-starter#18). DeleteVpcEndpoints removes
/// the route (botocore DeleteVpcEndpoints) and reports unknown ids as
/// Unsuccessful.
#[tokio::test]
async fn a_gateway_endpoint_for_s3_takes_route_tables_not_subnets() {
    let ec2 = ec2().await;
    let vpc = vpc(&ec2, "10.80.0.0/16").await;
    let private = subnet(&ec2, &vpc, "10.80.0.0/24", "us-west-2a").await;
    let table = route_table(&ec2, &vpc).await;
    refused(
        ec2.create_vpc_endpoint()
            .vpc_id(&vpc)
            .service_name(service("s3"))
            .vpc_endpoint_type(VpcEndpointType::Gateway)
            .subnet_ids(&private)
            .send()
            .await,
        "InvalidParameter",
        "a Gateway endpoint with subnets",
    );
    let endpoint = ec2
        .create_vpc_endpoint()
        .vpc_id(&vpc)
        .service_name(service("s3"))
        .vpc_endpoint_type(VpcEndpointType::Gateway)
        .route_table_ids(&table)
        .send()
        .await
        .expect("CreateVpcEndpoint Gateway")
        .vpc_endpoint
        .expect("endpoint");
    assert_eq!(
        endpoint.vpc_endpoint_type(),
        Some(&VpcEndpointType::Gateway)
    );
    assert_eq!(endpoint.private_dns_enabled(), Some(false));
    let prefix_routes = |tables: Vec<aws_sdk_ec2::types::RouteTable>| {
        tables
            .into_iter()
            .flat_map(|t| t.routes.unwrap_or_default())
            .filter(|r| r.destination_prefix_list_id().is_some())
            .count()
    };
    let describe = || ec2.describe_route_tables().route_table_ids(&table).send();
    let tables = describe().await.expect("DescribeRouteTables").route_tables;
    assert_eq!(prefix_routes(tables.unwrap_or_default()), 1);

    let endpoint_id = endpoint.vpc_endpoint_id.expect("endpoint id");
    let out = ec2
        .delete_vpc_endpoints()
        .vpc_endpoint_ids(&endpoint_id)
        .vpc_endpoint_ids("vpce-0123456789abcdef0")
        .send()
        .await
        .expect("DeleteVpcEndpoints");
    let unsuccessful = out.unsuccessful();
    assert_eq!(unsuccessful.len(), 1, "{unsuccessful:?}");
    assert_eq!(
        unsuccessful[0].resource_id(),
        Some("vpce-0123456789abcdef0")
    );
    assert_eq!(
        unsuccessful[0].error().and_then(|e| e.code()),
        Some("InvalidVpcEndpointId.NotFound")
    );
    let tables = describe().await.expect("DescribeRouteTables").route_tables;
    assert_eq!(prefix_routes(tables.unwrap_or_default()), 0);
}

/// An Interface endpoint takes subnets, at most one per Availability Zone
/// (DuplicateSubnetsInSameZone), and security groups; no route tables
/// ("InvalidParameter: Route table IDs are only supported for Gateway type
/// VPC Endpoint.", ansible-collections/amazon.aws#576). The endpoints an
/// eksctl private cluster uses are all offered as Interface endpoints.
#[tokio::test]
async fn an_interface_endpoint_takes_one_subnet_per_zone_and_no_route_tables() {
    let ec2 = ec2().await;
    let vpc = vpc(&ec2, "10.81.0.0/16").await;
    set_dns_hostnames(&ec2, &vpc, true).await;
    let a1 = subnet(&ec2, &vpc, "10.81.0.0/24", "us-west-2a").await;
    let a2 = subnet(&ec2, &vpc, "10.81.1.0/24", "us-west-2a").await;
    let b = subnet(&ec2, &vpc, "10.81.2.0/24", "us-west-2b").await;
    let table = route_table(&ec2, &vpc).await;
    let group = security_group(&ec2, &vpc).await;
    let interface = |name: &str| {
        ec2.create_vpc_endpoint()
            .vpc_id(&vpc)
            .service_name(service(name))
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .security_group_ids(&group)
    };

    refused(
        interface("ecr.api")
            .subnet_ids(&a1)
            .subnet_ids(&a2)
            .send()
            .await,
        "DuplicateSubnetsInSameZone",
        "an Interface endpoint with two subnets in one zone",
    );
    refused(
        interface("ecr.api").route_table_ids(&table).send().await,
        "InvalidParameter",
        "an Interface endpoint with route tables",
    );
    refused(
        interface("ecr.api")
            .subnet_ids(&a1)
            .security_group_ids("sg-0123456789abcdef0")
            .send()
            .await,
        "InvalidGroup.NotFound",
        "an Interface endpoint with an unknown security group",
    );

    let mut ids = Vec::new();
    for name in ["ecr.api", "ecr.dkr", "sts", "ec2", "logs"] {
        let endpoint = interface(name)
            .subnet_ids(&a1)
            .subnet_ids(&b)
            .private_dns_enabled(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateVpcEndpoint {name}: {e:?}"))
            .vpc_endpoint
            .expect("endpoint");
        assert_eq!(endpoint.private_dns_enabled(), Some(true), "{name}");
        assert_eq!(endpoint.network_interface_ids().len(), 2, "{name}");
        assert_eq!(
            endpoint.groups()[0].group_id(),
            Some(group.as_str()),
            "{name}"
        );
        ids.push(endpoint.vpc_endpoint_id.expect("endpoint id"));
    }
    let out = ec2
        .delete_vpc_endpoints()
        .set_vpc_endpoint_ids(Some(ids))
        .send()
        .await
        .expect("DeleteVpcEndpoints");
    assert!(out.unsuccessful().is_empty(), "{out:?}");
}

/// Private DNS on an Interface endpoint (the default) needs the VPC's
/// enableDnsSupport and enableDnsHostnames (botocore PrivateDnsEnabled: "To
/// use a private hosted zone, you must set the following VPC attributes to
/// true: enableDnsHostnames and enableDnsSupport."): InvalidParameter
/// "Enabling private DNS requires both enableDnsSupport and
/// enableDnsHostnames VPC attributes set to true for vpc-..." (Amazon
/// GuardDuty user guide). A new VPC has hostnames off.
#[tokio::test]
async fn private_dns_on_an_interface_endpoint_needs_dns_support_and_hostnames() {
    let ec2 = ec2().await;
    let vpc = vpc(&ec2, "10.82.0.0/16").await;
    let private = subnet(&ec2, &vpc, "10.82.0.0/24", "us-west-2a").await;
    let interface = || {
        ec2.create_vpc_endpoint()
            .vpc_id(&vpc)
            .service_name(service("sts"))
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .subnet_ids(&private)
    };
    let message = refused(
        interface().send().await,
        "InvalidParameter",
        "private DNS (by default) without DNS hostnames",
    );
    assert!(message.contains("enableDnsHostnames"), "{message}");
    refused(
        interface().private_dns_enabled(true).send().await,
        "InvalidParameter",
        "private DNS without DNS hostnames",
    );
    let without = interface()
        .private_dns_enabled(false)
        .send()
        .await
        .expect("CreateVpcEndpoint without private DNS")
        .vpc_endpoint
        .expect("endpoint");
    assert_eq!(without.private_dns_enabled(), Some(false));
    ec2.delete_vpc_endpoints()
        .set_vpc_endpoint_ids(without.vpc_endpoint_id.map(|id| vec![id]))
        .send()
        .await
        .expect("DeleteVpcEndpoints");

    set_dns_hostnames(&ec2, &vpc, true).await;
    let with = interface()
        .send()
        .await
        .expect("CreateVpcEndpoint with private DNS")
        .vpc_endpoint
        .expect("endpoint");
    assert_eq!(with.private_dns_enabled(), Some(true));
}

/// An endpoint holds its VPC, its subnets and its security groups until it
/// is deleted: DeleteVpc, DeleteSubnet and DeleteSecurityGroup are
/// DependencyViolation (botocore DeleteVpc; DeleteSubnet: the endpoint's
/// network interfaces are in the subnet; "resource sg-... has a dependent
/// object", AWS's answer for a group in use).
#[tokio::test]
async fn a_vpc_endpoint_holds_its_vpc_subnets_and_security_groups() {
    let ec2 = ec2().await;
    let vpc = vpc(&ec2, "10.83.0.0/16").await;
    set_dns_hostnames(&ec2, &vpc, true).await;
    let private = subnet(&ec2, &vpc, "10.83.0.0/24", "us-west-2a").await;
    let group = security_group(&ec2, &vpc).await;
    let endpoint = ec2
        .create_vpc_endpoint()
        .vpc_id(&vpc)
        .service_name(service("ec2"))
        .vpc_endpoint_type(VpcEndpointType::Interface)
        .subnet_ids(&private)
        .security_group_ids(&group)
        .send()
        .await
        .expect("CreateVpcEndpoint")
        .vpc_endpoint
        .and_then(|e| e.vpc_endpoint_id)
        .expect("endpoint id");

    refused(
        ec2.delete_security_group().group_id(&group).send().await,
        "DependencyViolation",
        "DeleteSecurityGroup used by an endpoint",
    );
    refused(
        ec2.delete_subnet().subnet_id(&private).send().await,
        "DependencyViolation",
        "DeleteSubnet with an endpoint in it",
    );
    refused(
        ec2.delete_vpc().vpc_id(&vpc).send().await,
        "DependencyViolation",
        "DeleteVpc with an endpoint",
    );

    ec2.delete_vpc_endpoints()
        .vpc_endpoint_ids(&endpoint)
        .send()
        .await
        .expect("DeleteVpcEndpoints");
    ec2.delete_security_group()
        .group_id(&group)
        .send()
        .await
        .expect("DeleteSecurityGroup");
    ec2.delete_subnet()
        .subnet_id(&private)
        .send()
        .await
        .expect("DeleteSubnet");
    ec2.delete_vpc()
        .vpc_id(&vpc)
        .send()
        .await
        .expect("DeleteVpc");
}

/// DeleteVpc is refused while a VPC endpoint exists (botocore DeleteVpc).
#[tokio::test]
async fn a_vpc_with_an_endpoint_cannot_be_deleted() {
    let ec2 = ec2().await;
    let vpc = vpc(&ec2, "10.84.0.0/16").await;
    let table = main_route_table(&ec2, &vpc).await;
    let endpoint = ec2
        .create_vpc_endpoint()
        .vpc_id(&vpc)
        .service_name(service("s3"))
        .route_table_ids(&table)
        .send()
        .await
        .expect("CreateVpcEndpoint")
        .vpc_endpoint
        .and_then(|e| e.vpc_endpoint_id)
        .expect("endpoint id");
    refused(
        ec2.delete_vpc().vpc_id(&vpc).send().await,
        "DependencyViolation",
        "DeleteVpc with an endpoint",
    );
    ec2.delete_vpc_endpoints()
        .vpc_endpoint_ids(&endpoint)
        .send()
        .await
        .expect("DeleteVpcEndpoints");
    ec2.delete_vpc()
        .vpc_id(&vpc)
        .send()
        .await
        .expect("DeleteVpc");
}

// --- The whole layout ---------------------------------------------------------------

/// The eksctl-style VPC, built and torn down in the order AWS accepts: a VPC
/// with DNS hostnames, an attached internet gateway, a public and a private
/// subnet in each of two zones, an Elastic IP and a NAT gateway in a public
/// subnet, a public route table (0.0.0.0/0 to the internet gateway) and a
/// private one (0.0.0.0/0 to the NAT gateway), each associated with its
/// subnets; then disassociate, delete the route tables, delete the NAT
/// gateway and wait for `deleted`, release the Elastic IP, detach and delete
/// the internet gateway, delete the subnets and the VPC. Nothing errs.
#[tokio::test]
async fn an_eksctl_style_vpc_is_built_and_torn_down_in_order() {
    let ec2 = ec2().await;

    // Build.
    let vpc = vpc(&ec2, "192.168.0.0/16").await;
    set_dns_hostnames(&ec2, &vpc, true).await;
    let igw = internet_gateway(&ec2).await;
    attach(&ec2, &igw, &vpc).await;
    let zones = ["us-west-2a", "us-west-2b"];
    let mut public = Vec::new();
    let mut private = Vec::new();
    for (i, zone) in zones.iter().enumerate() {
        let p = subnet(&ec2, &vpc, &format!("192.168.{}.0/19", i * 32), zone).await;
        ec2.modify_subnet_attribute()
            .subnet_id(&p)
            .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
            .send()
            .await
            .expect("ModifySubnetAttribute");
        public.push(p);
        private.push(subnet(&ec2, &vpc, &format!("192.168.{}.0/19", 64 + i * 32), zone).await);
    }
    let allocation = elastic_ip(&ec2).await;
    let nat = create_nat(&ec2, &public[0], &allocation)
        .await
        .nat_gateway_id
        .expect("nat id");
    let mut state = None;
    for _ in 0..10 {
        state = describe_nat(&ec2, &nat).await.state;
        if state != Some(NatGatewayState::Pending) {
            break;
        }
    }
    assert_eq!(state, Some(NatGatewayState::Available));

    let public_table = route_table(&ec2, &vpc).await;
    ec2.create_route()
        .route_table_id(&public_table)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(&igw)
        .send()
        .await
        .expect("CreateRoute to the internet gateway");
    let private_table = route_table(&ec2, &vpc).await;
    ec2.create_route()
        .route_table_id(&private_table)
        .destination_cidr_block("0.0.0.0/0")
        .nat_gateway_id(&nat)
        .send()
        .await
        .expect("CreateRoute to the NAT gateway");
    let mut associations = Vec::new();
    for subnet in &public {
        associations.push(associate(&ec2, &public_table, subnet).await);
    }
    for subnet in &private {
        associations.push(associate(&ec2, &private_table, subnet).await);
    }
    for table in [&public_table, &private_table] {
        assert_eq!(
            route_state(&ec2, table, "0.0.0.0/0").await,
            Some(RouteState::Active)
        );
    }

    // Tear down.
    for association in &associations {
        ec2.disassociate_route_table()
            .association_id(association)
            .send()
            .await
            .expect("DisassociateRouteTable");
    }
    for table in [&public_table, &private_table] {
        ec2.delete_route_table()
            .route_table_id(table)
            .send()
            .await
            .expect("DeleteRouteTable");
    }
    delete_nat(&ec2, &nat).await;
    ec2.release_address()
        .allocation_id(&allocation)
        .send()
        .await
        .expect("ReleaseAddress");
    ec2.detach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&vpc)
        .send()
        .await
        .expect("DetachInternetGateway");
    ec2.delete_internet_gateway()
        .internet_gateway_id(&igw)
        .send()
        .await
        .expect("DeleteInternetGateway");
    for subnet in public.iter().chain(&private) {
        ec2.delete_subnet()
            .subnet_id(subnet)
            .send()
            .await
            .expect("DeleteSubnet");
    }
    ec2.delete_vpc()
        .vpc_id(&vpc)
        .send()
        .await
        .expect("DeleteVpc");
}
