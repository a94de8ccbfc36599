//! EC2: the VPC and its private subnets (looked up by id, or created), the
//! MSK security group and its one ingress rule.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, IpPermission, ResourceType, SecurityGroup, Tag,
    TagSpecification, UserIdGroupPair, VpcAttributeName,
};
use stackplan_core::{
    ApplyRequest, Attrs, DeleteRequest, Observed, Phase, ReadRequest, ResourceMode, Value,
};

use crate::attrs::{Desired, differs, tags_value};
use crate::error::{AwsError, AwsResult, absent_if_not_found};
use crate::wait::{
    Poll, after_create, create_or_find, poll_until, progress, same_stack, until_found,
};
use crate::{AwsProvider, prior_id, unsupported};

pub(crate) fn ec2_tags(map: &BTreeMap<String, String>) -> Vec<Tag> {
    map.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub(crate) fn tag_spec(
    kind: ResourceType,
    map: &BTreeMap<String, String>,
) -> Option<TagSpecification> {
    (!map.is_empty()).then(|| {
        TagSpecification::builder()
            .resource_type(kind)
            .set_tags(Some(ec2_tags(map)))
            .build()
    })
}

pub(crate) fn tags_of(tags: &[Tag]) -> Value {
    tags_value(
        tags.iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
    )
}

/// The identity of a rule: EC2 gives ingress rules from a group no name,
/// so the id is built from what makes it unique, as Terraform does.
fn rule_id(group: &str, protocol: &str, from: i64, to: i64, source: &str) -> String {
    format!("{group}_ingress_{protocol}_{from}_{to}_{source}")
}

struct RuleSpec {
    group: String,
    protocol: String,
    from: i64,
    to: i64,
    source: String,
}

impl RuleSpec {
    fn parse(id: &str) -> Option<RuleSpec> {
        let mut parts = id.splitn(6, '_');
        let group = parts.next()?.to_string();
        if parts.next()? != "ingress" {
            return None;
        }
        Some(RuleSpec {
            group,
            protocol: parts.next()?.to_string(),
            from: parts.next()?.parse().ok()?,
            to: parts.next()?.parse().ok()?,
            source: parts.next()?.to_string(),
        })
    }

    fn from_desired(d: &Desired<'_>) -> AwsResult<RuleSpec> {
        let kind = d.opt_str("type")?.unwrap_or("ingress");
        if kind != "ingress" {
            return Err(AwsError::attribute(
                d.addr,
                "type",
                format!("only ingress rules are supported, not {kind}"),
            ));
        }
        Ok(RuleSpec {
            group: d.str("security_group_id")?.to_string(),
            protocol: d.opt_str("protocol")?.unwrap_or("tcp").to_string(),
            from: d.int("from_port")?,
            to: d.int("to_port")?,
            source: d.str("source_security_group_id")?.to_string(),
        })
    }

    fn id(&self) -> String {
        rule_id(
            &self.group,
            &self.protocol,
            self.from,
            self.to,
            &self.source,
        )
    }

    fn permission(&self, description: Option<&str>) -> IpPermission {
        IpPermission::builder()
            .ip_protocol(&self.protocol)
            .from_port(self.from as i32)
            .to_port(self.to as i32)
            .user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(&self.source)
                    .set_description(description.map(str::to_string))
                    .build(),
            )
            .build()
    }

    /// The matching pair inside a group's ingress permissions, if any.
    fn find<'g>(&self, group: &'g SecurityGroup) -> Option<&'g UserIdGroupPair> {
        group
            .ip_permissions()
            .iter()
            .filter(|p| {
                p.ip_protocol() == Some(self.protocol.as_str())
                    && p.from_port().map(i64::from) == Some(self.from)
                    && p.to_port().map(i64::from) == Some(self.to)
            })
            .flat_map(|p| p.user_id_group_pairs())
            .find(|pair| pair.group_id() == Some(self.source.as_str()))
    }
}

impl AwsProvider {
    // --- VPC ---------------------------------------------------------------

    async fn vpc_observe(
        &self,
        addr: &stackplan_core::ResourceAddr,
        id: &str,
    ) -> AwsResult<Option<Observed>> {
        let out = absent_if_not_found(
            self.ec2
                .describe_vpcs()
                .vpc_ids(id)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DescribeVpcs", e)),
        )?;
        let Some(vpc) = out.as_ref().and_then(|o| o.vpcs().first()) else {
            return Ok(None);
        };
        let attr = |name: VpcAttributeName| {
            let ec2 = self.ec2.clone();
            let id = id.to_string();
            async move {
                ec2.describe_vpc_attribute()
                    .vpc_id(id)
                    .attribute(name)
                    .send()
                    .await
                    .map_err(|e| AwsError::api(addr, "DescribeVpcAttribute", e))
            }
        };
        let (support, hostnames) = tokio::try_join!(
            attr(VpcAttributeName::EnableDnsSupport),
            attr(VpcAttributeName::EnableDnsHostnames),
        )?;
        let dns_support = support
            .enable_dns_support()
            .and_then(|v| v.value())
            .unwrap_or(true);
        let dns_hostnames = hostnames
            .enable_dns_hostnames()
            .and_then(|v| v.value())
            .unwrap_or(false);
        let cidr = vpc.cidr_block().unwrap_or_default();
        let arn = format!(
            "arn:{}:ec2:{}:{}:vpc/{id}",
            self.partition(),
            self.region,
            vpc.owner_id().unwrap_or_default()
        );
        Ok(Some(
            Observed::new(id)
                .attr("id", id)
                .attr("cidr_block", cidr)
                .attr("enable_dns_support", dns_support)
                .attr("enable_dns_hostnames", dns_hostnames)
                .attr("tags", tags_of(vpc.tags()))
                .output("id", id)
                .output("arn", arn)
                .output("cidr_block", cidr),
        ))
    }

    pub(crate) async fn vpc_read(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        let id = match req.mode {
            ResourceMode::Lookup => req
                .desired
                .and_then(|d| d.get("id"))
                .and_then(Value::as_str)
                .or(prior_id(req.prior)),
            ResourceMode::Managed => prior_id(req.prior),
        };
        match id {
            Some(id) => self.vpc_observe(req.addr, id).await,
            None => match req.desired {
                Some(d) if req.mode == ResourceMode::Managed => self.vpc_adopt(req.addr, d).await,
                _ => Ok(None),
            },
        }
    }

    /// A managed VPC not in state (state lost, or an apply interrupted
    /// before it saved): VPC ids are generated, so it is found by its
    /// block and the stack's tags rather than created a second time.
    async fn vpc_adopt(
        &self,
        addr: &stackplan_core::ResourceAddr,
        desired: &Attrs,
    ) -> AwsResult<Option<Observed>> {
        let d = Desired::new(addr, desired);
        let tags = d.str_map("tags")?;
        let (Some(cidr), Some(stack)) = (d.opt_str("cidr_block")?, tags.get("stackplan:stack"))
        else {
            return Ok(None);
        };
        let mut call = self
            .ec2
            .describe_vpcs()
            .filters(
                Filter::builder()
                    .name("cidr-block-association.cidr-block")
                    .values(cidr)
                    .build(),
            )
            .filters(
                Filter::builder()
                    .name("tag:stackplan:stack")
                    .values(stack)
                    .build(),
            );
        if let Some(name) = tags.get("Name") {
            call = call.filters(Filter::builder().name("tag:Name").values(name).build());
        }
        let out = call
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "DescribeVpcs", e))?;
        match the_only(out.vpcs(), |v| v.vpc_id()) {
            Some(id) => self.vpc_observe(addr, id).await,
            None => Ok(None),
        }
    }

    async fn vpc_set_dns(
        &self,
        req: &ApplyRequest<'_>,
        id: &str,
        name: &str,
        value: bool,
    ) -> AwsResult<()> {
        let flag = AttributeBooleanValue::builder().value(value).build();
        // EC2 takes one attribute per call.
        let call = self.ec2.modify_vpc_attribute().vpc_id(id);
        let call = if name == "enable_dns_support" {
            call.enable_dns_support(flag)
        } else {
            call.enable_dns_hostnames(flag)
        };
        call.send()
            .await
            .map_err(|e| AwsError::api(req.addr, "ModifyVpcAttribute", e))?;
        Ok(())
    }

    pub(crate) async fn vpc_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let tags = d.str_map("tags")?;
        let cidr = d.str("cidr_block")?;
        let spec = tag_spec(ResourceType::Vpc, &tags);
        progress(req.events, req.addr, Phase::Creating, "CreateVpc");
        // CreateVpc takes no client token (botocore EC2 model 1.44.8,
        // CreateVpcRequest has no ClientToken member; the EC2 guide's
        // "Ensuring idempotency" lists the actions that do): an SDK retry
        // after a lost answer would make a second VPC. Sent once; the VPC
        // is looked for by its block and the stack's tags before any retry.
        let (ec2, spec) = (&self.ec2_once(), &spec);
        let id = create_or_find(
            req.addr,
            req.events,
            "CreateVpc",
            &[],
            || async move {
                let out = ec2
                    .create_vpc()
                    .cidr_block(cidr)
                    .set_tag_specifications(spec.clone().map(|t| vec![t]))
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "CreateVpc", e))?;
                Ok(out
                    .vpc()
                    .and_then(|v| v.vpc_id())
                    .unwrap_or_default()
                    .to_string())
            },
            || async move {
                let found = self.vpc_adopt(req.addr, req.desired).await?;
                Ok(found.and_then(|o| o.physical_id))
            },
        )
        .await?;
        let id = &id;
        after_create(
            id,
            || async move {
                // EC2 is eventually consistent: a VPC made a moment ago can
                // answer InvalidVpcID.NotFound to the calls that follow
                // (terraform-provider-aws waits for a new VPC to be found
                // before configuring it).
                until_found(&self.wait, req.addr, req.events, "the new VPC", || {
                    self.vpc_observe(req.addr, id)
                })
                .await?;
                // Hostnames need DNS support on, so support goes first.
                if let Some(v) = d.opt_bool("enable_dns_support")? {
                    self.vpc_set_dns(&req, id, "enable_dns_support", v).await?;
                }
                if let Some(v) = d.opt_bool("enable_dns_hostnames")? {
                    self.vpc_set_dns(&req, id, "enable_dns_hostnames", v)
                        .await?;
                }
                self.vpc_observe(req.addr, id)
                    .await?
                    .ok_or_else(|| vanished(req.addr, "DescribeVpcs", id))
            },
            || self.vpc_observe(req.addr, id),
        )
        .await
    }

    pub(crate) async fn vpc_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let id = self.managed_id(&req)?;
        let live = self
            .vpc_observe(req.addr, &id)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeVpcs", &id))?;
        let d = Desired::new(req.addr, req.desired);
        for name in ["enable_dns_support", "enable_dns_hostnames"] {
            if let Some(v) = d.opt_bool(name)?
                && differs(req.addr.kind, &live.attrs, req.desired, name)
            {
                self.vpc_set_dns(&req, &id, name, v).await?;
            }
        }
        self.ec2_retag(&req, &id, &live.attrs).await?;
        self.vpc_observe(req.addr, &id)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeVpcs", &id))
    }

    pub(crate) async fn vpc_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some(id) = req.prior.physical_id.as_deref() else {
            return Ok(());
        };
        progress(req.events, req.addr, Phase::Deleting, "DeleteVpc");
        let ec2 = &self.ec2;
        self.delete_while_dependencies_linger(&req, "VPC deletion", || async move {
            ec2.delete_vpc()
                .vpc_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsError::api(req.addr, "DeleteVpc", e))
        })
        .await
    }

    /// Deletes with `delete`, again while EC2 answers `DependencyViolation`:
    /// the network interfaces EKS, MSK and load balancers leave in a subnet
    /// or security group are released minutes after their owner is deleted
    /// (terraform-provider-aws retries these deletes on DependencyViolation
    /// for the resource's delete timeout, as here for the kind's wait limit).
    /// Already gone is success.
    pub(crate) async fn delete_while_dependencies_linger<F, Fut>(
        &self,
        req: &DeleteRequest<'_>,
        what: &str,
        delete: F,
    ) -> AwsResult<()>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = AwsResult<()>>,
    {
        poll_until(&self.wait, req.addr, req.events, what, || {
            let attempt = delete();
            async move {
                match attempt.await {
                    Ok(()) => Ok(Poll::Ready(())),
                    Err(e) if e.is_not_found() => Ok(Poll::Ready(())),
                    // An Elastic IP stays "in use" until its NAT gateway's
                    // deletion has released it, as a subnet's ENIs do.
                    Err(e)
                        if matches!(
                            e.code(),
                            Some("DependencyViolation" | "InvalidIPAddress.InUse")
                        ) =>
                    {
                        Ok(Poll::Pending(e.code().unwrap_or_default().to_string()))
                    }
                    Err(e) => Err(e),
                }
            }
        })
        .await
    }

    // --- Subnets -------------------------------------------------------------

    async fn subnet_observe(
        &self,
        addr: &stackplan_core::ResourceAddr,
        id: &str,
    ) -> AwsResult<Option<Observed>> {
        let out = absent_if_not_found(
            self.ec2
                .describe_subnets()
                .subnet_ids(id)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DescribeSubnets", e)),
        )?;
        let Some(s) = out.as_ref().and_then(|o| o.subnets().first()) else {
            return Ok(None);
        };
        let az = s.availability_zone().unwrap_or_default();
        let arn = s.subnet_arn().map(str::to_string).unwrap_or_else(|| {
            format!(
                "arn:{}:ec2:{}:{}:subnet/{id}",
                self.partition(),
                self.region,
                s.owner_id().unwrap_or_default()
            )
        });
        Ok(Some(
            Observed::new(id)
                .attr("id", id)
                .attr("vpc_id", s.vpc_id().unwrap_or_default())
                .attr("cidr_block", s.cidr_block().unwrap_or_default())
                .attr("availability_zone", az)
                .attr(
                    "map_public_ip_on_launch",
                    s.map_public_ip_on_launch().unwrap_or(false),
                )
                .attr("tags", tags_of(s.tags()))
                .output("id", id)
                .output("arn", arn)
                .output("availability_zone", az),
        ))
    }

    pub(crate) async fn subnet_read(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        let id = match req.mode {
            ResourceMode::Lookup => req
                .desired
                .and_then(|d| d.get("id"))
                .and_then(Value::as_str)
                .or(prior_id(req.prior)),
            ResourceMode::Managed => prior_id(req.prior),
        };
        match id {
            Some(id) => self.subnet_observe(req.addr, id).await,
            None => match req.desired {
                Some(d) if req.mode == ResourceMode::Managed => {
                    self.subnet_adopt(req.addr, d).await
                }
                _ => Ok(None),
            },
        }
    }

    /// A managed subnet not in state: a block is unique within its VPC,
    /// so the VPC and the block find it.
    async fn subnet_adopt(
        &self,
        addr: &stackplan_core::ResourceAddr,
        desired: &Attrs,
    ) -> AwsResult<Option<Observed>> {
        let d = Desired::new(addr, desired);
        // Unknown yet (the VPC is planned too): nothing to find.
        let known = |k: &str| d.get(k).and_then(Value::as_str);
        let (Some(vpc), Some(cidr)) = (known("vpc_id"), known("cidr_block")) else {
            return Ok(None);
        };
        let out = self
            .ec2
            .describe_subnets()
            .filters(Filter::builder().name("vpc-id").values(vpc).build())
            .filters(Filter::builder().name("cidr-block").values(cidr).build())
            .send()
            .await
            .map_err(|e| AwsError::api(addr, "DescribeSubnets", e))?;
        match out.subnets().first().and_then(|s| s.subnet_id()) {
            Some(id) => self.subnet_observe(addr, id).await,
            None => Ok(None),
        }
    }

    pub(crate) async fn subnet_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let tags = d.str_map("tags")?;
        let (vpc, cidr) = (d.str("vpc_id")?, d.str("cidr_block")?);
        let zone = d.opt_str("availability_zone")?;
        let spec = tag_spec(ResourceType::Subnet, &tags);
        progress(req.events, req.addr, Phase::Creating, "CreateSubnet");
        // No client token (botocore CreateSubnetRequest): sent once, and
        // before a retry the block in the VPC is looked for (a retry of a
        // subnet that was made answers InvalidSubnet.Conflict).
        let (ec2, spec) = (&self.ec2_once(), &spec);
        let id = create_or_find(
            req.addr,
            req.events,
            "CreateSubnet",
            &[],
            || async move {
                let out = ec2
                    .create_subnet()
                    .vpc_id(vpc)
                    .cidr_block(cidr)
                    .set_availability_zone(zone.map(str::to_string))
                    .set_tag_specifications(spec.clone().map(|t| vec![t]))
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "CreateSubnet", e))?;
                Ok(out
                    .subnet()
                    .and_then(|s| s.subnet_id())
                    .unwrap_or_default()
                    .to_string())
            },
            || async move {
                let found = self.subnet_adopt(req.addr, req.desired).await?;
                Ok(found.and_then(|o| o.physical_id))
            },
        )
        .await?;
        let id = &id;
        after_create(
            id,
            || async move {
                let found = until_found(&self.wait, req.addr, req.events, "the new subnet", || {
                    self.subnet_observe(req.addr, id)
                })
                .await?;
                if !crate::network::wants_public_ip(req.desired) {
                    return Ok(found);
                }
                self.subnet_set_public_ip(req.addr, req.events, id, true)
                    .await?;
                self.subnet_observe(req.addr, id)
                    .await?
                    .ok_or_else(|| vanished(req.addr, "DescribeSubnets", id))
            },
            || self.subnet_observe(req.addr, id),
        )
        .await
    }

    pub(crate) async fn subnet_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let id = self.managed_id(&req)?;
        let live = self
            .subnet_observe(req.addr, &id)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeSubnets", &id))?;
        if differs(
            req.addr.kind,
            &live.attrs,
            req.desired,
            "map_public_ip_on_launch",
        ) {
            let public = crate::network::wants_public_ip(req.desired);
            self.subnet_set_public_ip(req.addr, req.events, &id, public)
                .await?;
        }
        self.ec2_retag(&req, &id, &live.attrs).await?;
        self.subnet_observe(req.addr, &id)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeSubnets", &id))
    }

    pub(crate) async fn subnet_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some(id) = req.prior.physical_id.as_deref() else {
            return Ok(());
        };
        progress(req.events, req.addr, Phase::Deleting, "DeleteSubnet");
        let ec2 = &self.ec2;
        self.delete_while_dependencies_linger(&req, "subnet deletion", || async move {
            ec2.delete_subnet()
                .subnet_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsError::api(req.addr, "DeleteSubnet", e))
        })
        .await
    }

    // --- Security group ----------------------------------------------------

    fn sg_observed(&self, g: &SecurityGroup) -> Observed {
        let id = g.group_id().unwrap_or_default();
        let arn = format!(
            "arn:{}:ec2:{}:{}:security-group/{id}",
            self.partition(),
            self.region,
            g.owner_id().unwrap_or_default()
        );
        Observed::new(id)
            .attr("name", g.group_name().unwrap_or_default())
            .attr("description", g.description().unwrap_or_default())
            .attr("vpc_id", g.vpc_id().unwrap_or_default())
            .attr("tags", tags_of(g.tags()))
            .output("id", id)
            .output("arn", arn)
    }

    async fn sg_by_id(
        &self,
        addr: &stackplan_core::ResourceAddr,
        id: &str,
    ) -> AwsResult<Option<SecurityGroup>> {
        let out = absent_if_not_found(
            self.ec2
                .describe_security_groups()
                .group_ids(id)
                .send()
                .await
                .map_err(|e| AwsError::api(addr, "DescribeSecurityGroups", e)),
        )?;
        Ok(out.and_then(|o| o.security_groups().first().cloned()))
    }

    pub(crate) async fn sg_read(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        if let Some(id) = prior_id(req.prior) {
            return Ok(self
                .sg_by_id(req.addr, id)
                .await?
                .map(|g| self.sg_observed(&g)));
        }
        // Not in state: found by its name in its VPC (names are unique
        // per VPC), so a lost state adopts rather than duplicates.
        let Some(d) = req.desired else {
            return Ok(None);
        };
        let d = Desired::new(req.addr, d);
        let out = self
            .ec2
            .describe_security_groups()
            .filters(
                Filter::builder()
                    .name("group-name")
                    .values(d.str("name")?)
                    .build(),
            )
            .filters(
                Filter::builder()
                    .name("vpc-id")
                    .values(d.str("vpc_id")?)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| AwsError::api(req.addr, "DescribeSecurityGroups", e))?;
        Ok(out.security_groups().first().map(|g| self.sg_observed(g)))
    }

    pub(crate) async fn sg_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let tags = d.str_map("tags")?;
        let (name, vpc) = (d.str("name")?, d.str("vpc_id")?);
        let description = d.opt_str("description")?.unwrap_or("Managed by stackplan");
        let spec = tag_spec(ResourceType::SecurityGroup, &tags);
        progress(req.events, req.addr, Phase::Creating, "CreateSecurityGroup");
        // No client token (botocore CreateSecurityGroupRequest); a name is
        // unique per VPC, so a retry of one that was made answers
        // InvalidGroup.Duplicate. Sent once; before a retry, or on that
        // answer, the group is looked for by name in the stack's VPC.
        let (ec2, spec, tags) = (&self.ec2_once(), &spec, &tags);
        let id = create_or_find(
            req.addr,
            req.events,
            "CreateSecurityGroup",
            &["InvalidGroup.Duplicate"],
            || async move {
                let out = ec2
                    .create_security_group()
                    .group_name(name)
                    .description(description)
                    .vpc_id(vpc)
                    .set_tag_specifications(spec.clone().map(|t| vec![t]))
                    .send()
                    .await
                    .map_err(|e| AwsError::api(req.addr, "CreateSecurityGroup", e))?;
                Ok(out.group_id().unwrap_or_default().to_string())
            },
            || async move {
                let found = self
                    .sg_read(ReadRequest {
                        addr: req.addr,
                        mode: ResourceMode::Managed,
                        desired: Some(req.desired),
                        prior: None,
                        events: req.events,
                    })
                    .await?;
                Ok(found
                    .filter(|o| same_stack(o.attrs.get("tags"), tags))
                    .and_then(|o| o.physical_id))
            },
        )
        .await?;
        let g = until_found(
            &self.wait,
            req.addr,
            req.events,
            "the new security group",
            || self.sg_by_id(req.addr, &id),
        )
        .await?;
        Ok(self.sg_observed(&g))
    }

    pub(crate) async fn sg_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let id = self.managed_id(&req)?;
        let live = self
            .sg_by_id(req.addr, &id)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeSecurityGroups", &id))?;
        self.ec2_retag(&req, &id, &self.sg_observed(&live).attrs)
            .await?;
        let g = self
            .sg_by_id(req.addr, &id)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeSecurityGroups", &id))?;
        Ok(self.sg_observed(&g))
    }

    pub(crate) async fn sg_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let Some(id) = req.prior.physical_id.as_deref() else {
            return Ok(());
        };
        progress(req.events, req.addr, Phase::Deleting, "DeleteSecurityGroup");
        // A group still attached to MSK's network interfaces refuses to go
        // for a while after the cluster is deleted.
        let ec2 = &self.ec2;
        self.delete_while_dependencies_linger(&req, "security group deletion", || async move {
            ec2.delete_security_group()
                .group_id(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| AwsError::api(req.addr, "DeleteSecurityGroup", e))
        })
        .await
    }

    // --- Security group rule -------------------------------------------------

    async fn sg_rule_observe(
        &self,
        addr: &stackplan_core::ResourceAddr,
        spec: &RuleSpec,
    ) -> AwsResult<Option<Observed>> {
        let Some(group) = self.sg_by_id(addr, &spec.group).await? else {
            return Ok(None);
        };
        let Some(pair) = spec.find(&group) else {
            return Ok(None);
        };
        let id = spec.id();
        Ok(Some(
            Observed::new(&id)
                .attr("security_group_id", spec.group.as_str())
                .attr("type", "ingress")
                .attr("protocol", spec.protocol.as_str())
                .attr("from_port", spec.from)
                .attr("to_port", spec.to)
                .attr("source_security_group_id", spec.source.as_str())
                .attr("description", pair.description().unwrap_or_default())
                .output("id", id),
        ))
    }

    pub(crate) async fn sg_rule_read(&self, req: ReadRequest<'_>) -> AwsResult<Option<Observed>> {
        let spec = match (prior_id(req.prior).and_then(RuleSpec::parse), req.desired) {
            (Some(spec), _) => spec,
            (None, Some(d)) => RuleSpec::from_desired(&Desired::new(req.addr, d))?,
            (None, None) => return Ok(None),
        };
        self.sg_rule_observe(req.addr, &spec).await
    }

    pub(crate) async fn sg_rule_create(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        let d = Desired::new(req.addr, req.desired);
        let spec = RuleSpec::from_desired(&d)?;
        progress(
            req.events,
            req.addr,
            Phase::Creating,
            "AuthorizeSecurityGroupIngress",
        );
        let authorized = self
            .ec2
            .authorize_security_group_ingress()
            .group_id(&spec.group)
            .ip_permissions(spec.permission(d.opt_str("description")?))
            .send()
            .await
            .map_err(|e| AwsError::api(req.addr, "AuthorizeSecurityGroupIngress", e));
        match authorized {
            Ok(_) => {}
            // An SDK retry of an authorization whose answer was lost finds
            // its own rule: EC2 answers InvalidPermission.Duplicate (EC2 API
            // reference, error codes; terraform-provider-aws's
            // aws_security_group_rule treats it as the rule existing). The
            // rule is identified by what it allows, so it is this one.
            Err(e) if e.code() == Some("InvalidPermission.Duplicate") => {
                progress(
                    req.events,
                    req.addr,
                    Phase::Creating,
                    "AuthorizeSecurityGroupIngress: the rule exists; taking it over",
                );
            }
            Err(e) => return Err(e),
        }
        self.sg_rule_observe(req.addr, &spec)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeSecurityGroups", &spec.id()))
    }

    pub(crate) async fn sg_rule_update(&self, req: ApplyRequest<'_>) -> AwsResult<Observed> {
        // Only the description is updatable; everything else forces a new rule.
        let d = Desired::new(req.addr, req.desired);
        let spec = RuleSpec::from_desired(&d)?;
        progress(
            req.events,
            req.addr,
            Phase::Updating,
            "UpdateSecurityGroupRuleDescriptionsIngress",
        );
        self.ec2
            .update_security_group_rule_descriptions_ingress()
            .group_id(&spec.group)
            .ip_permissions(spec.permission(Some(d.opt_str("description")?.unwrap_or(""))))
            .send()
            .await
            .map_err(|e| {
                AwsError::api(req.addr, "UpdateSecurityGroupRuleDescriptionsIngress", e)
            })?;
        self.sg_rule_observe(req.addr, &spec)
            .await?
            .ok_or_else(|| vanished(req.addr, "DescribeSecurityGroups", &spec.id()))
    }

    pub(crate) async fn sg_rule_delete(&self, req: DeleteRequest<'_>) -> AwsResult<()> {
        let spec = match req.prior.physical_id.as_deref().and_then(RuleSpec::parse) {
            Some(s) => s,
            None => RuleSpec::from_desired(&Desired::new(req.addr, &req.prior.attributes))?,
        };
        // Revoked with the description it has: EC2 ignores it, but
        // emulators match the permission exactly.
        let Some(live) = self.sg_rule_observe(req.addr, &spec).await? else {
            return Ok(());
        };
        let description = live
            .attrs
            .get("description")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty());
        progress(
            req.events,
            req.addr,
            Phase::Deleting,
            "RevokeSecurityGroupIngress",
        );
        absent_if_not_found(
            self.ec2
                .revoke_security_group_ingress()
                .group_id(&spec.group)
                .ip_permissions(spec.permission(description))
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "RevokeSecurityGroupIngress", e)),
        )?;
        Ok(())
    }

    // --- Shared ------------------------------------------------------------------

    /// The physical id an update works on: from state.
    pub(crate) fn managed_id(&self, req: &ApplyRequest<'_>) -> AwsResult<String> {
        prior_id(req.prior).map(str::to_string).ok_or_else(|| {
            unsupported(
                req.addr,
                "cannot update a resource without a physical id in state",
            )
        })
    }

    /// Makes an EC2 resource's tags equal the desired ones.
    pub(crate) async fn ec2_retag(
        &self,
        req: &ApplyRequest<'_>,
        id: &str,
        live: &Attrs,
    ) -> AwsResult<()> {
        let Some((set, remove)) = Desired::new(req.addr, req.desired).tag_delta(live)? else {
            return Ok(());
        };
        if !remove.is_empty() {
            self.ec2
                .delete_tags()
                .resources(id)
                .set_tags(Some(
                    remove
                        .iter()
                        .map(|k| Tag::builder().key(k).build())
                        .collect(),
                ))
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "DeleteTags", e))?;
        }
        if !set.is_empty() {
            self.ec2
                .create_tags()
                .resources(id)
                .set_tags(Some(ec2_tags(&set)))
                .send()
                .await
                .map_err(|e| AwsError::api(req.addr, "CreateTags", e))?;
        }
        Ok(())
    }
}

/// The id of the one resource an adoption search found: none, or several
/// that match, are not ours to pick from.
pub(crate) fn the_only<'a, T>(
    found: &'a [T],
    id: impl Fn(&'a T) -> Option<&'a str>,
) -> Option<&'a str> {
    match found {
        [one] => id(one),
        _ => None,
    }
}

pub(crate) fn vanished(addr: &stackplan_core::ResourceAddr, operation: &str, id: &str) -> AwsError {
    AwsError::Failed {
        addr: addr.clone(),
        what: format!("{operation} does not find {id} right after it was written"),
    }
}
