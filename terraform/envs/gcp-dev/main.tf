# quantray on GCP, dev: VPC with Cloud NAT, data bucket, a private zonal GKE cluster with system / cpu / spot /
# gpu node pools (GKE autoscales them), Workload Identity, the KubeRay operator and (second apply) the Ray
# workloads of infra/k8s/overlays/dev. docs/deploy.md walks through it.

locals {
  environment   = "dev"
  ray_namespace = "quantray-dev" # must equal infra/k8s/overlays/dev's namespace (tests/deploy checks it)
  # Jobs write sweeps and quarterly reports here (QUANTRAY_OUT of the Ray workloads; Serve reads the reports
  # from the same place).
  results_url = "gs://${module.storage.bucket_name}"
}

resource "random_id" "suffix" {
  byte_length = 3
}

module "naming" {
  source        = "../../modules/common/naming"
  environment   = local.environment
  cloud         = "gcp"
  region        = var.region
  unique_suffix = random_id.suffix.hex
  extra_tags    = var.extra_tags
}

module "pools" {
  source        = "../../modules/common/node_pools"
  cloud         = "gcp"
  environment   = local.environment
  machine_types = var.machine_types
  max_nodes     = var.max_nodes
  gpu_enabled   = var.gpu_enabled
}

module "network" {
  source     = "../../modules/gcp/network"
  name       = module.naming.prefix
  project_id = var.project_id
  region     = var.region
}

module "storage" {
  source        = "../../modules/gcp/storage"
  project_id    = var.project_id
  bucket_name   = module.naming.bucket_name
  location      = upper(var.region)
  force_destroy = true
  labels        = module.naming.labels
}

module "identity" {
  source        = "../../modules/gcp/identity"
  name          = module.naming.prefix
  project_id    = var.project_id
  bucket_name   = module.storage.bucket_name
  ray_namespace = local.ray_namespace
}

module "gke" {
  source               = "../../modules/gcp/gke"
  cluster_name         = module.naming.cluster_name
  project_id           = var.project_id
  location             = var.zone
  network_id           = module.network.network_id
  subnetwork_id        = module.network.subnetwork_id
  pods_range_name      = module.network.pods_range_name
  services_range_name  = module.network.services_range_name
  authorized_cidrs     = var.api_allowed_cidrs
  node_service_account = module.identity.node_service_account
  node_pools           = module.pools.pools
  deletion_protection  = false
  labels               = module.naming.labels
}

# What `ray up cluster/gcp.yaml` runs on (docs/deploy.md 3): the private node subnet, SSH from
# launcher_ssh_cidrs only, least-privilege head/worker service accounts.
module "ray_launcher" {
  source               = "../../modules/gcp/ray_launcher"
  name                 = module.naming.prefix
  project_id           = var.project_id
  region               = var.region
  zone                 = length(split("-", var.zone)) == 3 ? var.zone : "${var.region}-a" # a regional cluster's zone is a region
  network_id           = module.network.network_id
  subnetwork_self_link = module.network.subnetwork_self_link
  nodes_cidr           = module.network.nodes_cidr
  ssh_cidrs            = var.launcher_ssh_cidrs
  bucket_name          = module.storage.bucket_name
}

module "kuberay_operator" {
  source     = "../../modules/k8s/kuberay_operator"
  depends_on = [module.gke]
}

module "ray_workloads" {
  source         = "../../modules/k8s/ray_workloads"
  count          = var.deploy_ray_workloads ? 1 : 0
  manifests_file = "${path.module}/../../../infra/k8s/rendered/dev.yaml"
  namespace      = local.ray_namespace
  results_url    = local.results_url
  # Filestore (NFS) behind the Serve app's shared QUANTRAY_HOME: a basic HDD instance (1 TiB minimum).
  shared_storage = {
    provisioner = "filestore.csi.storage.gke.io"
    parameters  = { tier = "standard", network = module.network.network_name }
  }
  shared_storage_reclaim_policy = "Delete"
  service_account_annotations = {
    "iam.gke.io/gcp-service-account" = module.identity.ray_service_account
  }
  depends_on = [module.kuberay_operator]
}
