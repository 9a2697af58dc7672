# quantray on Azure, dev: resource group, VNet, storage account + container, AKS with system / cpu / spot / gpu
# node pools (AKS autoscales them), Workload Identity, the NVIDIA device plugin, the KubeRay operator and (second
# apply) the Ray workloads of infra/k8s/overlays/dev. docs/deploy.md walks through it.

locals {
  environment   = "dev"
  ray_namespace = "quantray-dev" # must equal infra/k8s/overlays/dev's namespace (tests/deploy checks it)
  # Jobs write sweeps and quarterly reports here (QUANTRAY_OUT of the Ray workloads; Serve reads the reports
  # from the same place).
  results_url = "abfs://data@${module.storage.storage_account_name}.dfs.core.windows.net"
}

resource "random_id" "suffix" {
  byte_length = 3
}

module "naming" {
  source        = "../../modules/common/naming"
  environment   = local.environment
  cloud         = "azure"
  region        = var.location
  unique_suffix = random_id.suffix.hex
  extra_tags    = var.extra_tags
}

module "pools" {
  source        = "../../modules/common/node_pools"
  cloud         = "azure"
  environment   = local.environment
  machine_types = var.machine_types
  max_nodes     = var.max_nodes
  gpu_enabled   = var.gpu_enabled
}

resource "azurerm_resource_group" "this" {
  name     = "${module.naming.prefix}-rg"
  location = var.location
  tags     = module.naming.tags
}

module "network" {
  source              = "../../modules/azure/network"
  name                = module.naming.prefix
  resource_group_name = azurerm_resource_group.this.name
  location            = var.location
  tags                = module.naming.tags
}

module "storage" {
  source               = "../../modules/azure/storage"
  storage_account_name = module.naming.storage_account_name
  resource_group_name  = azurerm_resource_group.this.name
  location             = var.location
  allowed_subnet_ids   = [module.network.nodes_subnet_id]
  allowed_ip_ranges    = [for c in var.api_allowed_cidrs : trimsuffix(c, "/32")]
  tags                 = module.naming.tags
}

module "aks" {
  source                 = "../../modules/azure/aks"
  cluster_name           = module.naming.cluster_name
  resource_group_name    = azurerm_resource_group.this.name
  location               = var.location
  kubernetes_version     = var.kubernetes_version
  sku_tier               = "Free"
  subnet_id              = module.network.nodes_subnet_id
  authorized_cidrs       = var.api_allowed_cidrs
  admin_group_object_ids = var.admin_group_object_ids
  node_pools             = module.pools.pools
  tags                   = module.naming.tags
}

module "identity" {
  source              = "../../modules/azure/identity"
  name                = module.naming.prefix
  resource_group_name = azurerm_resource_group.this.name
  location            = var.location
  oidc_issuer_url     = module.aks.oidc_issuer_url
  container_id        = module.storage.container_id
  ray_namespace       = local.ray_namespace
  tags                = module.naming.tags
}

# What `ray up cluster/azure.yaml` runs on (docs/deploy.md 3): a resource group for the Ray VMs only and the
# identity they run as (data container only, plus the Contributor Ray itself assigns on that group).
module "ray_launcher" {
  source          = "../../modules/azure/ray_launcher"
  name            = module.naming.prefix
  location        = var.location
  subscription_id = var.subscription_id
  container_id    = module.storage.container_id
  tags            = module.naming.tags
}

module "gpu_device_plugin" {
  source     = "../../modules/k8s/gpu_device_plugin"
  count      = var.gpu_enabled ? 1 : 0
  depends_on = [module.aks]
}

module "kuberay_operator" {
  source     = "../../modules/k8s/kuberay_operator"
  depends_on = [module.aks]
}

module "ray_workloads" {
  source         = "../../modules/k8s/ray_workloads"
  count          = var.deploy_ray_workloads ? 1 : 0
  manifests_file = "${path.module}/../../../infra/k8s/rendered/dev.yaml"
  namespace      = local.ray_namespace
  results_url    = local.results_url
  # Azure Files over NFS 4.1 (POSIX locks and modes, unlike SMB) behind the Serve app's shared QUANTRAY_HOME.
  shared_storage = {
    provisioner   = "file.csi.azure.com"
    parameters    = { skuName = "Premium_LRS", protocol = "nfs" }
    mount_options = ["nconnect=4", "noresvport", "actimeo=30"]
  }
  shared_storage_reclaim_policy = "Delete"
  service_account_annotations = {
    "azure.workload.identity/client-id" = module.identity.ray_client_id
  }
  depends_on = [module.kuberay_operator]
}
