# quantray on AWS, dev: VPC, data bucket, EKS with system / cpu / spot / gpu node groups, IRSA roles, the
# cluster autoscaler, the NVIDIA device plugin, the KubeRay operator and (second apply) the Ray workloads of
# infra/k8s/overlays/dev. docs/deploy.md walks through it.

locals {
  environment = "dev"
  # Must equal the namespace of infra/k8s/overlays/dev (tests/deploy checks it).
  ray_namespace = "quantray-dev"
  # Jobs write sweeps and quarterly reports here (QUANTRAY_OUT of the Ray workloads; Serve reads the reports
  # from the same place).
  results_url = "s3://${module.storage.bucket_name}"
}

resource "random_id" "suffix" {
  byte_length = 3
}

module "naming" {
  source        = "../../modules/common/naming"
  environment   = local.environment
  cloud         = "aws"
  region        = var.region
  unique_suffix = random_id.suffix.hex
  extra_tags    = var.extra_tags
}

module "pools" {
  source        = "../../modules/common/node_pools"
  cloud         = "aws"
  environment   = local.environment
  machine_types = var.machine_types
  max_nodes     = var.max_nodes
  gpu_enabled   = var.gpu_enabled
}

module "network" {
  source             = "../../modules/aws/network"
  name               = module.naming.prefix
  cluster_name       = module.naming.cluster_name
  availability_zones = var.availability_zones
  tags               = module.naming.tags
}

module "storage" {
  source        = "../../modules/aws/storage"
  bucket_name   = module.naming.bucket_name
  force_destroy = true
  tags          = module.naming.tags
}

module "eks" {
  source              = "../../modules/aws/eks"
  cluster_name        = module.naming.cluster_name
  kubernetes_version  = var.kubernetes_version
  subnet_ids          = module.network.private_subnet_ids
  public_access_cidrs = var.api_allowed_cidrs
  node_pools          = module.pools.pools
  tags                = module.naming.tags
}

# IAM names are global to the account: the region keeps two deployments of one environment (two regions)
# from colliding, here and in shared_fs and ray_launcher.
module "identity" {
  source                  = "../../modules/aws/identity"
  name                    = "${module.naming.prefix}-${var.region}"
  oidc_provider_arn       = module.eks.oidc_provider_arn
  oidc_issuer             = module.eks.oidc_issuer
  ray_namespace           = local.ray_namespace
  data_access_policy_json = module.storage.data_access_policy_json
  cluster_name            = module.eks.cluster_name
  tags                    = module.naming.tags
}

data "aws_caller_identity" "current" {}

# EFS (ReadWriteMany) behind the Serve app's shared QUANTRAY_HOME.
module "shared_fs" {
  source                    = "../../modules/aws/shared_fs"
  name                      = "${module.naming.prefix}-${var.region}"
  account_id                = data.aws_caller_identity.current.account_id
  cluster_name              = module.eks.cluster_name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  client_security_group_ids = [module.eks.cluster_security_group_id]
  oidc_provider_arn         = module.eks.oidc_provider_arn
  oidc_issuer               = module.eks.oidc_issuer
  tags                      = module.naming.tags
}

# What `ray up cluster/aws.yaml` runs on (docs/deploy.md 3): private subnets, SSH from launcher_ssh_cidrs only,
# least-privilege head/worker roles, the region's Ubuntu 22.04 DLAMI.
module "ray_launcher" {
  source                  = "../../modules/aws/ray_launcher"
  name                    = "${module.naming.prefix}-${var.region}"
  vpc_id                  = module.network.vpc_id
  vpc_cidr_block          = module.network.vpc_cidr_block
  subnet_ids              = module.network.private_subnet_ids
  ssh_cidrs               = var.launcher_ssh_cidrs
  data_access_policy_json = module.storage.data_access_policy_json
  ami_id                  = var.launcher_ami_id
  tags                    = module.naming.tags
}

module "cluster_autoscaler" {
  source       = "../../modules/k8s/cluster_autoscaler"
  cluster_name = module.eks.cluster_name
  region       = var.region
  role_arn     = module.identity.autoscaler_role_arn
  depends_on   = [module.eks]
}

module "gpu_device_plugin" {
  source     = "../../modules/k8s/gpu_device_plugin"
  count      = var.gpu_enabled ? 1 : 0
  depends_on = [module.eks]
}

module "kuberay_operator" {
  source     = "../../modules/k8s/kuberay_operator"
  depends_on = [module.eks]
}

module "ray_workloads" {
  source         = "../../modules/k8s/ray_workloads"
  count          = var.deploy_ray_workloads ? 1 : 0
  manifests_file = "${path.module}/../../../infra/k8s/rendered/dev.yaml"
  namespace      = local.ray_namespace
  results_url    = local.results_url
  shared_storage = module.shared_fs.storage_class
  # dev: the shared volume goes with the environment (terraform destroy leaves nothing behind).
  shared_storage_reclaim_policy = "Delete"
  service_account_annotations = {
    "eks.amazonaws.com/role-arn" = module.identity.ray_role_arn
  }
  depends_on = [module.kuberay_operator]
}
