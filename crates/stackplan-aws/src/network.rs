//! EC2: what lets a created VPC reach the internet, laid out as eksctl's
//! default VPC is: an internet gateway, Elastic IPs and NAT gateways, route
//! tables and their subnet associations, and the VPC endpoints a cluster
//! without NAT needs.
//!
//! Every kind here has a generated id, so one found without state (an
//! apply killed between the create and the state write) is adopted by the
//! stack's tags, never made a second time; associations, which carry no
//! tags, are found by their subnet (a subnet has at most one).

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{
    AttributeBooleanValue, ConnectivityType, DomainType, Filter, ResourceType, VpcEndpointType,
};
use stackplan_core::{
    ApplyRequest, Attrs, DeleteRequest, Observed, Phase, ReadRequest, ResourceAddr, Value,
};

use crate::attrs::{Desired, differs, str_list_value, str_map_value};
use crate::ec2::{tag_spec, tags_of, the_only, vanished};
use crate::error::{AwsError, AwsResult, absent_if_not_found};
use crate::wait::{
    Poll, after_create, create_or_find, poll_until, poll_until_gone, progress, until_found,
};
use crate::{AwsProvider, client_token, prior_id};

/// The filters that find a tagged resource of this stack without state:
/// its stack tag and its Name. `None` when the desired tags carry no
/// stack tag (then nothing is adopted).
fn stack_filters(d: &Desired<'_>) -> AwsResult<Option<Vec<Filter>>> {
    let tags = d.str_map("tags")?;
    let Some(stack) = tags.get("stackplan:stack") else {
        return Ok(None);
    };
    let mut filters = vec![
        Filter::builder()
            .name("tag:stackplan:stack")
            .values(stack)
            .build(),
    ];
    if let Some(name) = tags.get("Name") {
        filters.push(Filter::builder().name("tag:Name").values(name).build());
    }
    Ok(Some(filters))
}

/// A read of the resource `req` creates, as if state had lost it: what
/// finds it by its identity (the stack's tags, its name) after a create
/// whose answer was lost.
pub(crate) fn adopt_read<'a>(req: &ApplyRequest<'a>) -> ReadRequest<'a> {
    ReadRequest {
        addr: req.addr,
        mode: stackplan_core::ResourceMode::Managed,
        desired: Some(req.desired),
        prior: None,
        events: req.events,
    }
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn flag(value: bool) -> AttributeBooleanValue {
    AttributeBooleanValue::builder().value(value).build()
}

/// `(added, removed)` between two id lists.
fn list_delta(live: &[String], wanted: &[String]) -> (Vec<String>, Vec<String>) {
    let add = wanted
        .iter()
        .filter(|w| !live.contains(w))
        .cloned()
        .collect();
    let remove = live
        .iter()
        .filter(|l| !wanted.contains(l))
        .cloned()
        .collect();
    (add, remove)
}

fn strings(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

impl AwsProvider {
    // --- Internet gateway --------------------------------------------------------

    async fn igw_observe(&self, addr: &ResourceAddr, id: &str) -> AwsResult<Option<Observed>> {
        let out = absent_if_not_found(
            self.ec2
                .describe_internet_gateways()
                .internet_gateway_ids(id)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DescribeInternetGateways", e)),
        )?;
        let Some(g) = out.as_ref().and_then(|o| o.internet_gateways().first()) else {
            return Ok(None);
        };
        let vpc = g
            .attachments()
            .iter()
            .find_map(|a| a.vpc_id())
            .map(Value::string)
            .unwrap_or(Value::Null);
        let arn = format!(
            "arn:{}:ec2:{}:{}:internet-gateway/{id}",
            self.partition(),
            self.region,
            g.owner_id().unwrap_or_default()
        );
        Ok(Some(
            Observed::new(id)
                .attr("vpc_id", vpc)
                .attr("tags", tags_of(g.tags()))
                .output("id", id)
                .output("arn", arn),
        ))
    }

    pub(crate) async fn igw_read(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        if let Some(id) = prior_id(req.prior) {
            return self.igw_observe(req.addr, id).await;
        }
        let Some(desired) = req.desired else {
            return Ok(None);
        };
        let Some(filters) = stack_filters(&Desired::new(req.addr, desired))? else {
            return Ok(None);
        };
        let out = self
            .ec2
            .describe_internet_gateways()
            .set_filters(Some(filters))
            .send()
            .await
            .map_err(|e| AwsError::api(req.addr, "DescribeInternetGateways", e))?;
        match the_only(out.internet_gateways(), |x| x.internet_gateway_id()) {
            Some(id) => self.igw_observe(req.addr, id).await,
            None => Ok(None),
        }
    }

    pub(crate) async fn igw_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let tags = d.str_map("tags")?;
        let vpc = d.str("vpc_id")?;
        progress(
            req.events,
            req.addr,
            Phase::Creating,
            "CreateInternetGateway",
        );
        // No client token (botocore CreateInternetGatewayRequest): an SDK
        // retry after a lost answer would make a second gateway. Sent
        // once; before a retry the gateway is looked for by the stack's
        // tags, as a read of it not in state does.
        let spec = tag_spec(ResourceType::InternetGateway, &tags);
        let (ec2, spec) = (&self.ec2_once(), &spec);
        let id = create_or_find(
            req.addr,
            req.events,
            "CreateInternetGateway",
            &[],
            || async move {
                let out = ec2
                    .create_internet_gateway()
                    .set_tag_specifications(spec.clone().map(|t| vec![t]))
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "CreateInternetGateway", e))?;
                Ok(out
                    .internet_gateway()
                    .and_then(|g| g.internet_gateway_id())
                    .unwrap_or_default()
                    .to_string())
            },
            || async move {
                Ok(self
                    .igw_read(adopt_read(&req))
                    .await?
                    .and_then(|o| o.physical_id))
            },
        )
        .await?;
        let id = &id;
        after_create(
            id,
            || async move {
                let found = until_found(
                    &self.wait,
                    req.addr,
                    req.events,
                    "the new internet gateway",
                    || self.igw_observe(req.addr, id),
                )
                .await?;
                // Found by its tags, it may be attached already.
                if found.attrs.get("vpc_id").and_then(Value::as_str) != Some(vpc) {
                    self.igw_attach(&req, id, vpc).await?;
                }
                self.igw_observe(req.addr, id)
                    .await?
                    .ok_or_else(|| vanished(req.addr, "DescribeInternetGateways", id))
            },
            || self.igw_observe(req.addr, id),
        )
        .await
    }

    async fn igw_attach(&self, req: &ApplyRequest<'_>, id: &str, vpc: &str) -> AwsResult<()> {
        progress(
            req.events,
            req.addr,
            Phase::Creating,
            format!("AttachInternetGateway {vpc}"),
        );
        let attached = self
            .ec2
            .attach_internet_gateway()
            .internet_gateway_id(id)
            .vpc_id(vpc)
            .send()
            .await
            .map_err(|e| AwsError::api(req.addr, "AttachInternetGateway", e));
        match attached {
            Ok(_) => Ok(()),
            // An SDK retry of an attach whose answer was lost is refused
            // (Resource.AlreadyAssociated, EC2 error codes; or "already has
            // an internet gateway attached"): it is done if this gateway is
            // the one attached to the VPC.
            Err(e) => {
                let live = self.igw_observe(req.addr, id).await?;
                let on_vpc = live
                    .as_ref()
                    .and_then(|o| o.attrs.get("vpc_id"))
                    .and_then(Value::as_str);
                if on_vpc == Some(vpc) { Ok(()) } else { Err(e) }
            }
        }
    }

    pub(crate) async fn igw_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let id = self.managed_id(&req)?;
        let live = self
            .igw_observe(req.addr, &id)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeInternetGateways", &id))?;
        // Detached behind the stack's back: attach it again.
        if live.attrs.get("vpc_id") == Some(&Value::Null) {
            let vpc = Desired::new(req.addr, req.desired).str("vpc_id")?;
            self.igw_attach(&req, &id, vpc).await?;
        }
        self.ec2_retag(&req, &id, &live.attrs).await?;
        self.igw_observe(req.addr, &id)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeInternetGateways", &id))
    }

    /// Detaches, then deletes. EC2 refuses the detach while the VPC still
    /// has public addresses mapped (a NAT gateway's Elastic IP being
    /// released), and the delete while attached: both answer
    /// DependencyViolation and are tried again (terraform-provider-aws,
    /// `detachInternetGateway`, retries the same way).
    pub(crate) async fn igw_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some(id) = req.prior.physical_id.as_deref() else {
            return Ok(());
        };
        let vpc = req
            .prior
            .attributes
            .get("vpc_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let ec2 = &self.ec2;
        if let Some(vpc) = vpc.as_deref() {
            progress(
                req.events,
                req.addr,
                Phase::Deleting,
                "DetachInternetGateway",
            );
            self.delete_while_dependencies_linger(&req, "internet gateway detach", || async move {
                match ec2
                    .detach_internet_gateway()
                    .internet_gateway_id(id)
                    .vpc_id(vpc)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "DetachInternetGateway", e))
                {
                    // Detached already.
                    Err(e) if e.code() == Some("Gateway.NotAttached") => Ok(()),
                    other => other.map(drop),
                }
            })
            .await?;
        }
        progress(
            req.events,
            req.addr,
            Phase::Deleting,
            "DeleteInternetGateway",
        );
        self.delete_while_dependencies_linger(&req, "internet gateway deletion", || async move {
            ec2.delete_internet_gateway()
                .internet_gateway_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsError::api(req.addr, "DeleteInternetGateway", e))
        })
        .await
    }

    // --- Elastic IP ------------------------------------------------------------

    async fn eip_observe(&self, addr: &ResourceAddr, id: &str) -> AwsResult<Option<Observed>> {
        let out = absent_if_not_found(
            self.ec2
                .describe_addresses()
                .allocation_ids(id)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DescribeAddresses", e)),
        )?;
        let Some(a) = out.as_ref().and_then(|o| o.addresses().first()) else {
            return Ok(None);
        };
        Ok(Some(
            Observed::new(id)
                .attr("domain", a.domain().map(|d| d.as_str()).unwrap_or("vpc"))
                .attr("tags", tags_of(a.tags()))
                .output("id", id)
                .output("public_ip", a.public_ip().unwrap_or_default()),
        ))
    }

    pub(crate) async fn eip_read(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        if let Some(id) = prior_id(req.prior) {
            return self.eip_observe(req.addr, id).await;
        }
        let Some(desired) = req.desired else {
            return Ok(None);
        };
        let Some(filters) = stack_filters(&Desired::new(req.addr, desired))? else {
            return Ok(None);
        };
        let out = self
            .ec2
            .describe_addresses()
            .set_filters(Some(filters))
            .send()
            .await
            .map_err(|e| AwsError::api(req.addr, "DescribeAddresses", e))?;
        match the_only(out.addresses(), |x| x.allocation_id()) {
            Some(id) => self.eip_observe(req.addr, id).await,
            None => Ok(None),
        }
    }

    pub(crate) async fn eip_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let tags = d.str_map("tags")?;
        let domain = d.opt_str("domain")?.unwrap_or("vpc");
        progress(req.events, req.addr, Phase::Creating, "AllocateAddress");
        // No client token (botocore AllocateAddressRequest): an SDK retry
        // after a lost answer would allocate a second address. Sent once;
        // before a retry the address is looked for by the stack's tags.
        let spec = tag_spec(ResourceType::ElasticIp, &tags);
        let (ec2, spec) = (&self.ec2_once(), &spec);
        let id = create_or_find(
            req.addr,
            req.events,
            "AllocateAddress",
            &[],
            || async move {
                let out = ec2
                    .allocate_address()
                    .domain(DomainType::from(domain))
                    .set_tag_specifications(spec.clone().map(|t| vec![t]))
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "AllocateAddress", e))?;
                Ok(out.allocation_id().unwrap_or_default().to_string())
            },
            || async move {
                Ok(self
                    .eip_read(adopt_read(&req))
                    .await?
                    .and_then(|o| o.physical_id))
            },
        )
        .await?;
        until_found(
            &self.wait,
            req.addr,
            req.events,
            "the new Elastic IP",
            || self.eip_observe(req.addr, &id),
        )
        .await
    }

    pub(crate) async fn eip_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let id = self.managed_id(&req)?;
        let live = self
            .eip_observe(req.addr, &id)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeAddresses", &id))?;
        self.ec2_retag(&req, &id, &live.attrs).await?;
        self.eip_observe(req.addr, &id)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeAddresses", &id))
    }

    /// Released after its NAT gateway is `deleted` (the graph orders it
    /// so: the gateway references the allocation); an address another
    /// resource still holds answers InvalidIPAddress.InUse, which is
    /// waited out like a lingering interface.
    pub(crate) async fn eip_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some(id) = req.prior.physical_id.as_deref() else {
            return Ok(());
        };
        progress(req.events, req.addr, Phase::Deleting, "ReleaseAddress");
        let ec2 = &self.ec2;
        self.delete_while_dependencies_linger(&req, "Elastic IP release", || async move {
            ec2.release_address()
                .allocation_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsError::api(req.addr, "ReleaseAddress", e))
        })
        .await
    }

    // --- NAT gateway -------------------------------------------------------------

    /// A NAT gateway and its state; `deleted` and `failed` ones stay listed
    /// for about an hour and count as absent.
    async fn nat_observe(&self, addr: &ResourceAddr, id: &str) -> AwsResult<Option<Observed>> {
        Ok(self.nat_observe_any(addr, id).await?.filter(|o| {
            !matches!(
                o.outputs.get("state").and_then(Value::as_str),
                Some("deleted" | "failed")
            )
        }))
    }

    /// A NAT gateway in any state: a new one can go `failed` at once (EC2
    /// reports a missing internet gateway or a taken Elastic IP that way,
    /// as `FailureCode`, not as an error of CreateNatGateway), which the
    /// wait must see to report it.
    async fn nat_observe_any(&self, addr: &ResourceAddr, id: &str) -> AwsResult<Option<Observed>> {
        let out = absent_if_not_found(
            self.ec2
                .describe_nat_gateways()
                .nat_gateway_ids(id)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DescribeNatGateways", e)),
        )?;
        let Some(n) = out.as_ref().and_then(|o| o.nat_gateways().first()) else {
            return Ok(None);
        };
        let state = n.state().map(|s| s.as_str()).unwrap_or_default();
        let allocation = n
            .nat_gateway_addresses()
            .iter()
            .find_map(|a| a.allocation_id())
            .map(Value::string)
            .unwrap_or(Value::Null);
        Ok(Some(
            Observed::new(id)
                .attr("subnet_id", n.subnet_id().unwrap_or_default())
                .attr("allocation_id", allocation)
                .attr(
                    "connectivity_type",
                    n.connectivity_type()
                        .map(|c| c.as_str())
                        .unwrap_or("public"),
                )
                .attr("tags", tags_of(n.tags()))
                .output("id", id)
                .output("state", state),
        ))
    }

    pub(crate) async fn nat_read(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        if let Some(id) = prior_id(req.prior) {
            return self.nat_observe(req.addr, id).await;
        }
        let Some(desired) = req.desired else {
            return Ok(None);
        };
        let d = Desired::new(req.addr, desired);
        let Some(mut filters) = stack_filters(&d)? else {
            return Ok(None);
        };
        if let Some(subnet) = d.get("subnet_id").and_then(Value::as_str) {
            filters.push(filter("subnet-id", subnet));
        }
        filters.push(
            Filter::builder()
                .name("state")
                .values("pending")
                .values("available")
                .build(),
        );
        let out = self
            .ec2
            .describe_nat_gateways()
            .set_filter(Some(filters))
            .send()
            .await
            .map_err(|e| AwsError::api(req.addr, "DescribeNatGateways", e))?;
        match the_only(out.nat_gateways(), |x| x.nat_gateway_id()) {
            Some(id) => self.nat_observe(req.addr, id).await,
            None => Ok(None),
        }
    }

    pub(crate) async fn nat_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let tags = d.str_map("tags")?;
        progress(req.events, req.addr, Phase::Creating, "CreateNatGateway");
        let out = self
            .ec2
            .create_nat_gateway()
            .subnet_id(d.str("subnet_id")?)
            .allocation_id(d.str("allocation_id")?)
            .connectivity_type(ConnectivityType::from(
                d.opt_str("connectivity_type")?.unwrap_or("public"),
            ))
            // One token per create, reused by the SDK's retries: EC2 answers
            // a retry of a gateway it made with that gateway (botocore
            // CreateNatGatewayRequest.ClientToken; EC2 guide, "Ensuring
            // idempotency in Amazon EC2 API requests").
            .client_token(client_token())
            .set_tag_specifications(tag_spec(ResourceType::Natgateway, &tags).map(|t| vec![t]))
            .send()
            .await
            .map_err(|e| AwsError::api(req.addr, "CreateNatGateway", e))?;
        let id = out
            .nat_gateway()
            .and_then(|n| n.nat_gateway_id())
            .unwrap_or_default()
            .to_string();
        until_found(
            &self.wait,
            req.addr,
            req.events,
            "the new NAT gateway",
            || self.nat_observe_any(req.addr, &id),
        )
        .await
    }

    /// A NAT gateway is `pending` for a minute or two; routes through it
    /// work once it is `available` (EC2 API reference, NatGateway.State).
    pub(crate) async fn nat_wait(
        &self,
        req: ApplyRequest<'_>,
        observed: Observed,
    ) -> AwsResult<Observed> {
        let id = crate::waited_id(&observed, req.prior)
            .unwrap_or_default()
            .to_string();
        let addr = req.addr;
        let ec2 = &self.ec2;
        let id_ref = id.as_str();
        poll_until(
            &self.wait,
            addr,
            req.events,
            "NAT gateway available",
            || async move {
                let out = ec2
                    .describe_nat_gateways()
                    .nat_gateway_ids(id_ref)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(addr, "DescribeNatGateways", e))?;
                let Some(n) = out.nat_gateways().first() else {
                    return Err(vanished(addr, "DescribeNatGateways", id_ref));
                };
                match n.state().map(|s| s.as_str()).unwrap_or_default() {
                    "available" => Ok(Poll::Ready(())),
                    "failed" => Err(AwsError::Failed {
                        addr: addr.clone(),
                        what: format!(
                            "NAT gateway {id_ref} failed: {}",
                            n.failure_message().unwrap_or("no reason given")
                        ),
                    }),
                    other => Ok(Poll::Pending(other.to_string())),
                }
            },
        )
        .await?;
        self.nat_observe(addr, &id)
            .await?
            .ok_or_else(|| vanished(addr, "DescribeNatGateways", &id))
    }

    pub(crate) async fn nat_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let id = self.managed_id(&req)?;
        let live = self
            .nat_observe(req.addr, &id)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeNatGateways", &id))?;
        self.ec2_retag(&req, &id, &live.attrs).await?;
        self.nat_observe(req.addr, &id)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeNatGateways", &id))
    }

    /// Deletes and waits for `deleted`: only then are its Elastic IP and
    /// its subnet's network interface free.
    pub(crate) async fn nat_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some(id) = req.prior.physical_id.as_deref() else {
            return Ok(());
        };
        progress(req.events, req.addr, Phase::Deleting, "DeleteNatGateway");
        let gone = absent_if_not_found(
            self.ec2
                .delete_nat_gateway()
                .nat_gateway_id(id)
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "DeleteNatGateway", e)),
        )?
        .is_none();
        if gone {
            return Ok(());
        }
        let addr = req.addr;
        poll_until_gone(
            &self.wait,
            addr,
            req.events,
            "NAT gateway deletion",
            || async move {
                let out = absent_if_not_found(
                    self.ec2
                        .describe_nat_gateways()
                        .nat_gateway_ids(id)
                        .send()
                        .await
                        .map_err(|e| AwsError::api(addr, "DescribeNatGateways", e)),
                )?;
                let state = out
                    .as_ref()
                    .and_then(|o| o.nat_gateways().first())
                    .and_then(|n| n.state())
                    .map(|s| s.as_str().to_string());
                Ok(state.filter(|s| s != "deleted"))
            },
        )
        .await
    }

    // --- Route tables ------------------------------------------------------------

    async fn route_table_observe(
        &self,
        addr: &ResourceAddr,
        id: &str,
    ) -> AwsResult<Option<Observed>> {
        let out = absent_if_not_found(
            self.ec2
                .describe_route_tables()
                .route_table_ids(id)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DescribeRouteTables", e)),
        )?;
        let Some(t) = out.as_ref().and_then(|o| o.route_tables().first()) else {
            return Ok(None);
        };
        // The VPC's own `local` route and the prefix-list routes a gateway
        // endpoint adds are not the stack's.
        let routes: BTreeMap<String, String> = t
            .routes()
            .iter()
            .filter_map(|r| {
                let dest = r.destination_cidr_block()?;
                let target = r
                    .nat_gateway_id()
                    .or(r.gateway_id())
                    .filter(|g| *g != "local")?;
                Some((dest.to_string(), target.to_string()))
            })
            .collect();
        let arn = format!(
            "arn:{}:ec2:{}:{}:route-table/{id}",
            self.partition(),
            self.region,
            t.owner_id().unwrap_or_default()
        );
        Ok(Some(
            Observed::new(id)
                .attr("vpc_id", t.vpc_id().unwrap_or_default())
                .attr("routes", str_map_value(&routes))
                .attr("tags", tags_of(t.tags()))
                .output("id", id)
                .output("arn", arn),
        ))
    }

    pub(crate) async fn route_table_read(
        &self,
        req: ReadRequest<'_>,
    ) -> AwsResult<Option<Observed>> {
        if let Some(id) = prior_id(req.prior) {
            return self.route_table_observe(req.addr, id).await;
        }
        let Some(desired) = req.desired else {
            return Ok(None);
        };
        let d = Desired::new(req.addr, desired);
        let Some(mut filters) = stack_filters(&d)? else {
            return Ok(None);
        };
        if let Some(vpc) = d.get("vpc_id").and_then(Value::as_str) {
            filters.push(filter("vpc-id", vpc));
        }
        let out = self
            .ec2
            .describe_route_tables()
            .set_filters(Some(filters))
            .send()
            .await
            .map_err(|e| AwsError::api(req.addr, "DescribeRouteTables", e))?;
        match the_only(out.route_tables(), |x| x.route_table_id()) {
            Some(id) => self.route_table_observe(req.addr, id).await,
            None => Ok(None),
        }
    }

    /// Adds, replaces or deletes one route; `target` is an internet
    /// gateway (`igw-`) or a NAT gateway (`nat-`), as CreateRoute takes
    /// them in different fields.
    async fn route_call(
        &self,
        req: &ApplyRequest<'_>,
        table: &str,
        dest: &str,
        target: Option<&str>,
        replace: bool,
    ) -> AwsResult<()> {
        let is_nat = target.is_some_and(|t| t.starts_with("nat-"));
        let (gateway, nat) = match target {
            Some(t) if is_nat => (None, Some(t.to_string())),
            Some(t) => (Some(t.to_string()), None),
            None => (None, None),
        };
        match (target, replace) {
            (None, _) => {
                progress(
                    req.events,
                    req.addr,
                    Phase::Updating,
                    format!("DeleteRoute {dest}"),
                );
                absent_if_not_found(
                    self.ec2
                        .delete_route()
                        .route_table_id(table)
                        .destination_cidr_block(dest)
                        .send()
                        .await
                        .map_err(|e| AwsError::api(req.addr, "DeleteRoute", e)),
                )?;
            }
            (Some(t), false) => {
                progress(
                    req.events,
                    req.addr,
                    Phase::Updating,
                    format!("CreateRoute {dest} -> {t}"),
                );
                let created = self
                    .ec2
                    .create_route()
                    .route_table_id(table)
                    .destination_cidr_block(dest)
                    .set_gateway_id(gateway)
                    .set_nat_gateway_id(nat)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "CreateRoute", e));
                if let Err(e) = created {
                    // An SDK retry of a route whose answer was lost finds it:
                    // RouteAlreadyExists (EC2 error codes). Done if the
                    // route there is this one.
                    if e.code() != Some("RouteAlreadyExists")
                        || !self.route_is(req.addr, table, dest, t).await?
                    {
                        return Err(e);
                    }
                }
            }
            (Some(t), true) => {
                progress(
                    req.events,
                    req.addr,
                    Phase::Updating,
                    format!("ReplaceRoute {dest} -> {t}"),
                );
                self.ec2
                    .replace_route()
                    .route_table_id(table)
                    .destination_cidr_block(dest)
                    .set_gateway_id(gateway)
                    .set_nat_gateway_id(nat)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "ReplaceRoute", e))?;
            }
        }
        Ok(())
    }

    async fn sync_routes(
        &self,
        req: &ApplyRequest<'_>,
        table: &str,
        live: &BTreeMap<String, String>,
    ) -> AwsResult<()> {
        let wanted = Desired::new(req.addr, req.desired).str_map("routes")?;
        for (dest, target) in &wanted {
            match live.get(dest) {
                Some(t) if t == target => {}
                Some(_) => {
                    self.route_call(req, table, dest, Some(target), true)
                        .await?
                }
                None => {
                    self.route_call(req, table, dest, Some(target), false)
                        .await?
                }
            }
        }
        for dest in live.keys().filter(|d| !wanted.contains_key(*d)) {
            self.route_call(req, table, dest, None, false).await?;
        }
        Ok(())
    }

    /// Whether `table` routes `dest` to `target`.
    async fn route_is(
        &self,
        addr: &ResourceAddr,
        table: &str,
        dest: &str,
        target: &str,
    ) -> AwsResult<bool> {
        let live = self.route_table_observe(addr, table).await?;
        let routes = live.as_ref().and_then(|o| o.attrs.get("routes"));
        let to = routes
            .and_then(Value::as_map)
            .and_then(|m| m.get(dest))
            .and_then(Value::as_str);
        Ok(to == Some(target))
    }

    pub(crate) async fn route_table_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let tags = d.str_map("tags")?;
        progress(req.events, req.addr, Phase::Creating, "CreateRouteTable");
        let out = self
            .ec2
            .create_route_table()
            .vpc_id(d.str("vpc_id")?)
            // Reused by the SDK's retries, so a retry after a lost answer
            // gets the table it made (botocore CreateRouteTableRequest.
            // ClientToken, an idempotency token).
            .client_token(client_token())
            .set_tag_specifications(tag_spec(ResourceType::RouteTable, &tags).map(|t| vec![t]))
            .send()
            .await
            .map_err(|e| AwsError::api(req.addr, "CreateRouteTable", e))?;
        let id = out
            .route_table()
            .and_then(|t| t.route_table_id())
            .unwrap_or_default()
            .to_string();
        let id = &id;
        after_create(
            id,
            || async move {
                until_found(
                    &self.wait,
                    req.addr,
                    req.events,
                    "the new route table",
                    || self.route_table_observe(req.addr, id),
                )
                .await?;
                self.sync_routes(&req, id, &BTreeMap::new()).await?;
                self.route_table_observe(req.addr, id)
                    .await?
                    .ok_or_else(|| vanished(req.addr, "DescribeRouteTables", id))
            },
            || self.route_table_observe(req.addr, id),
        )
        .await
    }

    pub(crate) async fn route_table_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let id = self.managed_id(&req)?;
        let live = self
            .route_table_observe(req.addr, &id)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeRouteTables", &id))?;
        let live_routes = Desired::new(req.addr, &live.attrs).str_map("routes")?;
        self.sync_routes(&req, &id, &live_routes).await?;
        self.ec2_retag(&req, &id, &live.attrs).await?;
        self.route_table_observe(req.addr, &id)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeRouteTables", &id))
    }

    pub(crate) async fn route_table_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some(id) = req.prior.physical_id.as_deref() else {
            return Ok(());
        };
        progress(req.events, req.addr, Phase::Deleting, "DeleteRouteTable");
        let ec2 = &self.ec2;
        // Refused while a subnet is still associated (DependencyViolation).
        self.delete_while_dependencies_linger(&req, "route table deletion", || async move {
            ec2.delete_route_table()
                .route_table_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsError::api(req.addr, "DeleteRouteTable", e))
        })
        .await
    }

    // --- Route table associations ------------------------------------------------

    /// The association `id` or, without one, the explicit association of
    /// `subnet` (a subnet has at most one).
    async fn association_find(
        &self,
        addr: &ResourceAddr,
        id: Option<&str>,
        subnet: Option<&str>,
    ) -> AwsResult<Option<Observed>> {
        let (name, value) = match (id, subnet) {
            (Some(id), _) => ("association.route-table-association-id", id),
            (None, Some(subnet)) => ("association.subnet-id", subnet),
            (None, None) => return Ok(None),
        };
        let out = self
            .ec2
            .describe_route_tables()
            .filters(filter(name, value))
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "DescribeRouteTables", e))?;
        let found = out
            .route_tables()
            .iter()
            .flat_map(|t| t.associations())
            .find(|a| {
                a.main() != Some(true)
                    && match id {
                        Some(id) => a.route_table_association_id() == Some(id),
                        None => a.subnet_id() == subnet,
                    }
            });
        Ok(found.and_then(|a| {
            let id = a.route_table_association_id()?;
            Some(
                Observed::new(id)
                    .attr("subnet_id", a.subnet_id().unwrap_or_default())
                    .attr("route_table_id", a.route_table_id().unwrap_or_default())
                    .output("id", id),
            )
        }))
    }

    pub(crate) async fn association_read(
        &self,
        req: ReadRequest<'_>,
    ) -> AwsResult<Option<Observed>> {
        let subnet = req
            .desired
            .and_then(|d| d.get("subnet_id"))
            .and_then(Value::as_str);
        self.association_find(req.addr, prior_id(req.prior), subnet)
            .await
    }

    pub(crate) async fn association_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let (table, subnet) = (d.str("route_table_id")?, d.str("subnet_id")?);
        progress(req.events, req.addr, Phase::Creating, "AssociateRouteTable");
        let associated = self
            .ec2
            .associate_route_table()
            .route_table_id(table)
            .subnet_id(subnet)
            .send()
            .await
            .map_err(|e| AwsError::api(req.addr, "AssociateRouteTable", e));
        let id = match associated {
            Ok(out) => out.association_id().unwrap_or_default().to_string(),
            Err(e) => {
                // An SDK retry of an association whose answer was lost is
                // refused, the subnet being associated already
                // (Resource.AlreadyAssociated; terraform-provider-aws's
                // aws_route_table_association docs). Taken over if it is
                // with this table: a subnet has one explicit association.
                let found = self.association_find(req.addr, None, Some(subnet)).await?;
                let same_table = found
                    .as_ref()
                    .and_then(|o| o.attrs.get("route_table_id"))
                    .and_then(Value::as_str)
                    == Some(table);
                match found {
                    Some(o) if same_table && e.code() == Some("Resource.AlreadyAssociated") => {
                        return Ok(o);
                    }
                    _ => return Err(e),
                }
            }
        };
        until_found(
            &self.wait,
            req.addr,
            req.events,
            "the new association",
            || self.association_find(req.addr, Some(&id), None),
        )
        .await
    }

    pub(crate) async fn association_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        // Both attributes force a new association; nothing else to change.
        let id = self.managed_id(&req)?;
        self.association_find(req.addr, Some(&id), None)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeRouteTables", &id))
    }

    pub(crate) async fn association_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some(id) = req.prior.physical_id.as_deref() else {
            return Ok(());
        };
        progress(
            req.events,
            req.addr,
            Phase::Deleting,
            "DisassociateRouteTable",
        );
        absent_if_not_found(
            self.ec2
                .disassociate_route_table()
                .association_id(id)
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "DisassociateRouteTable", e)),
        )?;
        Ok(())
    }

    // --- VPC endpoints -----------------------------------------------------------

    async fn endpoint_observe(&self, addr: &ResourceAddr, id: &str) -> AwsResult<Option<Observed>> {
        let out = absent_if_not_found(
            self.ec2
                .describe_vpc_endpoints()
                .vpc_endpoint_ids(id)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DescribeVpcEndpoints", e)),
        )?;
        let Some(e) = out.as_ref().and_then(|o| o.vpc_endpoints().first()) else {
            return Ok(None);
        };
        let state = e.state().map(|s| s.as_str()).unwrap_or_default();
        if matches!(state.to_ascii_lowercase().as_str(), "deleted" | "failed") {
            return Ok(None);
        }
        let groups: Vec<String> = e
            .groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect();
        Ok(Some(
            Observed::new(id)
                .attr("vpc_id", e.vpc_id().unwrap_or_default())
                .attr("service_name", e.service_name().unwrap_or_default())
                .attr(
                    "vpc_endpoint_type",
                    e.vpc_endpoint_type()
                        .map(|t| t.as_str())
                        .unwrap_or("Gateway"),
                )
                .attr("route_table_ids", str_list_value(e.route_table_ids()))
                .attr("subnet_ids", str_list_value(e.subnet_ids()))
                .attr("security_group_ids", str_list_value(&groups))
                .attr(
                    "private_dns_enabled",
                    e.private_dns_enabled().unwrap_or(false),
                )
                .attr("tags", tags_of(e.tags()))
                .output("id", id)
                .output("state", state),
        ))
    }

    pub(crate) async fn endpoint_read(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        if let Some(id) = prior_id(req.prior) {
            return self.endpoint_observe(req.addr, id).await;
        }
        let Some(desired) = req.desired else {
            return Ok(None);
        };
        let d = Desired::new(req.addr, desired);
        let (Some(vpc), Some(service)) = (
            d.get("vpc_id").and_then(Value::as_str),
            d.get("service_name").and_then(Value::as_str),
        ) else {
            return Ok(None);
        };
        let out = self
            .ec2
            .describe_vpc_endpoints()
            .filters(filter("vpc-id", vpc))
            .filters(filter("service-name", service))
            .send()
            .await
            .map_err(|e| AwsError::api(req.addr, "DescribeVpcEndpoints", e))?;
        let live: Vec<&str> = out
            .vpc_endpoints()
            .iter()
            .filter(|e| {
                !matches!(
                    e.state()
                        .map(|s| s.as_str().to_ascii_lowercase())
                        .as_deref(),
                    Some("deleted" | "deleting" | "failed")
                )
            })
            .filter_map(|e| e.vpc_endpoint_id())
            .collect();
        match the_only(&live, |id| Some(*id)) {
            Some(id) => self.endpoint_observe(req.addr, id).await,
            None => Ok(None),
        }
    }

    pub(crate) async fn endpoint_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let tags = d.str_map("tags")?;
        let service = d.str("service_name")?;
        let kind = d.opt_str("vpc_endpoint_type")?.unwrap_or("Gateway");
        progress(
            req.events,
            req.addr,
            Phase::Creating,
            format!("CreateVpcEndpoint {service}"),
        );
        let mut call = self
            .ec2
            .create_vpc_endpoint()
            .vpc_id(d.str("vpc_id")?)
            .service_name(service)
            .vpc_endpoint_type(VpcEndpointType::from(kind))
            .set_route_table_ids(strings(&d.str_list("route_table_ids")?))
            .set_subnet_ids(strings(&d.str_list("subnet_ids")?))
            .set_security_group_ids(strings(&d.str_list("security_group_ids")?))
            // Reused by the SDK's retries: a retry after a lost answer gets
            // the endpoint it made (botocore CreateVpcEndpointRequest.
            // ClientToken: "to ensure the idempotency of the request").
            .client_token(client_token())
            .set_tag_specifications(tag_spec(ResourceType::VpcEndpoint, &tags).map(|t| vec![t]));
        // Private DNS is an interface endpoint's setting only.
        if kind == "Interface" {
            call = call.private_dns_enabled(d.bool_or("private_dns_enabled", false)?);
        }
        let out = call
            .send()
            .await
            .map_err(|e| AwsError::api(req.addr, "CreateVpcEndpoint", e))?;
        let id = out
            .vpc_endpoint()
            .and_then(|e| e.vpc_endpoint_id())
            .unwrap_or_default()
            .to_string();
        until_found(
            &self.wait,
            req.addr,
            req.events,
            "the new VPC endpoint",
            || self.endpoint_observe(req.addr, &id),
        )
        .await
    }

    /// An interface endpoint is `pending` until its network interfaces
    /// exist in every subnet.
    pub(crate) async fn endpoint_wait(
        &self,
        req: ApplyRequest<'_>,
        observed: Observed,
    ) -> AwsResult<Observed> {
        let id = crate::waited_id(&observed, req.prior)
            .unwrap_or_default()
            .to_string();
        let addr = req.addr;
        let id_ref = id.as_str();
        poll_until(
            &self.wait,
            addr,
            req.events,
            "VPC endpoint available",
            || async move {
                let Some(e) = self.endpoint_observe(addr, id_ref).await? else {
                    return Err(vanished(addr, "DescribeVpcEndpoints", id_ref));
                };
                let state = e
                    .outputs
                    .get("state")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                match state.as_str() {
                    "available" => Ok(Poll::Ready(())),
                    "rejected" | "expired" => Err(AwsError::Failed {
                        addr: addr.clone(),
                        what: format!("VPC endpoint {id_ref} is {state}"),
                    }),
                    _ => Ok(Poll::Pending(state)),
                }
            },
        )
        .await?;
        self.endpoint_observe(addr, &id)
            .await?
            .ok_or_else(|| vanished(addr, "DescribeVpcEndpoints", &id))
    }

    pub(crate) async fn endpoint_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let id = self.managed_id(&req)?;
        let live = self
            .endpoint_observe(req.addr, &id)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeVpcEndpoints", &id))?;
        let d = Desired::new(req.addr, req.desired);
        let l = Desired::new(req.addr, &live.attrs);
        let (add_rt, rm_rt) = list_delta(
            &l.str_list("route_table_ids")?,
            &d.str_list("route_table_ids")?,
        );
        let (add_sn, rm_sn) = list_delta(&l.str_list("subnet_ids")?, &d.str_list("subnet_ids")?);
        let (add_sg, rm_sg) = list_delta(
            &l.str_list("security_group_ids")?,
            &d.str_list("security_group_ids")?,
        );
        let dns = differs(
            req.addr.kind,
            &live.attrs,
            req.desired,
            "private_dns_enabled",
        );
        let changed = [&add_rt, &rm_rt, &add_sn, &rm_sn, &add_sg, &rm_sg]
            .iter()
            .any(|v| !v.is_empty());
        if changed || dns {
            progress(req.events, req.addr, Phase::Updating, "ModifyVpcEndpoint");
            let mut call = self
                .ec2
                .modify_vpc_endpoint()
                .vpc_endpoint_id(&id)
                .set_add_route_table_ids(strings(&add_rt))
                .set_remove_route_table_ids(strings(&rm_rt))
                .set_add_subnet_ids(strings(&add_sn))
                .set_remove_subnet_ids(strings(&rm_sn))
                .set_add_security_group_ids(strings(&add_sg))
                .set_remove_security_group_ids(strings(&rm_sg));
            if dns {
                call = call.private_dns_enabled(d.bool_or("private_dns_enabled", false)?);
            }
            call.send()
                .await
                .map_err(|e| AwsError::api(req.addr, "ModifyVpcEndpoint", e))?;
        }
        self.ec2_retag(&req, &id, &live.attrs).await?;
        self.endpoint_observe(req.addr, &id)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeVpcEndpoints", &id))
    }

    pub(crate) async fn endpoint_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some(id) = req.prior.physical_id.as_deref() else {
            return Ok(());
        };
        progress(req.events, req.addr, Phase::Deleting, "DeleteVpcEndpoints");
        let out = absent_if_not_found(
            self.ec2
                .delete_vpc_endpoints()
                .vpc_endpoint_ids(id)
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "DeleteVpcEndpoints", e)),
        )?;
        // DeleteVpcEndpoints answers 200 and lists what it could not do.
        if let Some(failed) = out.as_ref().and_then(|o| o.unsuccessful().first()) {
            let error = failed.error();
            let code = error.and_then(|e| e.code()).unwrap_or_default();
            if !code.ends_with(".NotFound") {
                return Err(AwsError::Failed {
                    addr: req.addr.clone(),
                    what: format!(
                        "DeleteVpcEndpoints refused {id}: {code}: {}",
                        error.and_then(|e| e.message()).unwrap_or_default()
                    ),
                });
            }
            return Ok(());
        }
        let addr = req.addr;
        poll_until_gone(
            &self.wait,
            addr,
            req.events,
            "VPC endpoint deletion",
            || async move {
                Ok(self.endpoint_observe(addr, id).await?.map(|o| {
                    o.outputs
                        .get("state")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                }))
            },
        )
        .await
    }

    // --- Subnet attributes -------------------------------------------------------

    /// Public subnets give launched instances a public address (eksctl sets
    /// `MapPublicIpOnLaunch` on its public subnets; EC2 takes it through
    /// ModifySubnetAttribute only, never at CreateSubnet).
    pub(crate) async fn subnet_set_public_ip(
        &self,
        addr: &ResourceAddr,
        events: &dyn stackplan_core::EventSink,
        id: &str,
        value: bool,
    ) -> AwsResult<()> {
        progress(
            events,
            addr,
            Phase::Updating,
            format!("ModifySubnetAttribute MapPublicIpOnLaunch={value}"),
        );
        self.ec2
            .modify_subnet_attribute()
            .subnet_id(id)
            .map_public_ip_on_launch(flag(value))
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "ModifySubnetAttribute", e))?;
        Ok(())
    }
}

/// Whether the desired attributes ask for a public-IP subnet.
pub(crate) fn wants_public_ip(desired: &Attrs) -> bool {
    matches!(
        desired.get("map_public_ip_on_launch"),
        Some(Value::Bool(true))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_delta_adds_the_new_and_removes_the_dropped() {
        let live = vec!["a".to_string(), "b".to_string()];
        let wanted = vec!["b".to_string(), "c".to_string()];
        assert_eq!(
            list_delta(&live, &wanted),
            (vec!["c".to_string()], vec!["a".to_string()])
        );
    }
}
