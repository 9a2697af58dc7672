# What cluster/aws.yaml (`ray up`) runs on, so that Ray's defaults never apply. Left to itself Ray's AWS bootstrap
# creates a head role with AmazonEC2FullAccess + AmazonS3FullAccess, a security group with SSH open to
# 0.0.0.0/0, nodes with public IPs in a default subnet, and Ubuntu 18.04 DLAMI (CUDA 11.2). Instead:
# - nodes in the private subnets of modules/aws/network (no public IP; NAT for egress), provider.use_internal_ips;
# - one security group: SSH only from ssh_cidrs (your VPN/bastion range, by default the VPC itself), every port
#   between Ray nodes (GCS, raylets, object managers and workers use many);
# - a head role that may only launch, tag and terminate instances of this Ray cluster (tag ray-cluster-name),
#   pass the worker role, and use the data bucket; a worker role that may only use the data bucket;
# - the AMI: Ubuntu 22.04 "Deep Learning Base OSS Nvidia Driver GPU AMI" (Docker + NVIDIA container toolkit,
#   drivers for the CUDA 12 image), resolved per region from AWS's public SSM parameter unless ami_id pins one.
# infra/scripts/launcher_config.py fills cluster/aws.yaml's `terraform:ray_launcher.*` values from the output.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.name
  ec2_arn   = "arn:${local.partition}:ec2:${local.region}:${local.account}"
  ssh_cidrs = length(var.ssh_cidrs) > 0 ? var.ssh_cidrs : [var.vpc_cidr_block]
}

data "aws_ssm_parameter" "ami" {
  count = var.ami_id == null ? 1 : 0
  name  = var.ami_ssm_parameter
}

resource "aws_security_group" "ray" {
  #checkov:skip=CKV2_AWS_5:Attached at run time: Ray's launcher puts it on every node it starts (SecurityGroupIds in cluster/aws.yaml, filled from this module's output).
  name_prefix = "${var.name}-ray-launcher-"
  description = "Ray cluster launcher nodes of ${var.cluster_name}: SSH from allowed ranges, Ray between nodes"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-ray-launcher" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "ssh" {
  for_each          = toset(local.ssh_cidrs)
  security_group_id = aws_security_group.ray.id
  description       = "SSH for ray up / ray attach from an allowed range"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "ray" {
  security_group_id            = aws_security_group.ray.id
  description                  = "Every port between the Ray nodes of this group (GCS, raylets, object managers, workers)"
  ip_protocol                  = "-1"
  referenced_security_group_id = aws_security_group.ray.id
}

resource "aws_vpc_security_group_egress_rule" "all" {
  #checkov:skip=CKV_AWS_382:Nodes pull the image (ghcr.io), reach the exchanges' websockets and AWS APIs through the NAT gateway; they have no public IP and no inbound path.
  security_group_id = aws_security_group.ray.id
  description       = "Egress through the NAT gateway: image pulls, AWS APIs, market data"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "worker" {
  name               = "${var.name}-ray-launcher-worker"
  description        = "Ray cluster launcher workers of ${var.cluster_name}: the data bucket only"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "worker_data" {
  name   = "data-bucket"
  role   = aws_iam_role.worker.id
  policy = var.data_access_policy_json
}

resource "aws_iam_instance_profile" "worker" {
  name = "${var.name}-ray-launcher-worker"
  role = aws_iam_role.worker.name
  tags = var.tags
}

resource "aws_iam_role" "head" {
  name               = "${var.name}-ray-launcher-head"
  description        = "Ray cluster launcher head of ${var.cluster_name}: autoscale this Ray cluster's workers, the data bucket"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "head_data" {
  name   = "data-bucket"
  role   = aws_iam_role.head.id
  policy = var.data_access_policy_json
}

# The Ray autoscaler on the head (ray/autoscaler/_private/aws/node_provider.py): RunInstances with
# TagSpecifications ray-cluster-name=<cluster_name>, DescribeInstances filtered by that tag, CreateTags on its
# nodes, Terminate (cache_stopped_nodes: false). Instances it launches or terminates must carry the tag.
data "aws_iam_policy_document" "autoscaler" {
  #checkov:skip=CKV_AWS_356:ec2:Describe* calls do not support resource-level permissions; they are read-only.
  statement {
    sid       = "DescribeReadOnly"
    actions   = ["ec2:DescribeInstances", "ec2:DescribeInstanceStatus", "ec2:DescribeImages", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeKeyPairs", "ec2:DescribeInstanceTypes", "ec2:DescribeAvailabilityZones"]
    resources = ["*"]
  }
  statement {
    sid       = "LaunchOnlyTaggedInstancesOfThisCluster"
    actions   = ["ec2:RunInstances"]
    resources = ["${local.ec2_arn}:instance/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/ray-cluster-name"
      values   = [var.cluster_name]
    }
  }
  statement {
    sid     = "LaunchIntoTheLauncherNetworkAndImage"
    actions = ["ec2:RunInstances"]
    resources = concat(
      [for s in var.subnet_ids : "${local.ec2_arn}:subnet/${s}"],
      [
        aws_security_group.ray.arn,
        "arn:${local.partition}:ec2:${local.region}::image/*",
        "${local.ec2_arn}:key-pair/*",
        # Created with each instance (Ray tags only the instance itself).
        "${local.ec2_arn}:volume/*",
        "${local.ec2_arn}:network-interface/*",
        "${local.ec2_arn}:spot-instances-request/*",
      ],
    )
  }
  statement {
    sid       = "TagAtLaunch"
    actions   = ["ec2:CreateTags"]
    resources = ["${local.ec2_arn}:instance/*", "${local.ec2_arn}:spot-instances-request/*"]
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["RunInstances"]
    }
  }
  statement {
    sid       = "ManageOnlyThisClustersInstances"
    actions   = ["ec2:CreateTags", "ec2:TerminateInstances", "ec2:StopInstances", "ec2:StartInstances"]
    resources = ["${local.ec2_arn}:instance/*"]
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/ray-cluster-name"
      values   = [var.cluster_name]
    }
  }
  statement {
    sid       = "PassOnlyTheWorkerRole"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.worker.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ec2.amazonaws.com"]
    }
  }
  statement {
    sid       = "SpotServiceLinkedRoleOnce"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["arn:${local.partition}:iam::${local.account}:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot"]
    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values   = ["spot.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "head_autoscaler" {
  name   = "ray-autoscaler"
  role   = aws_iam_role.head.id
  policy = data.aws_iam_policy_document.autoscaler.json
}

resource "aws_iam_instance_profile" "head" {
  name = "${var.name}-ray-launcher-head"
  role = aws_iam_role.head.name
  tags = var.tags
}
