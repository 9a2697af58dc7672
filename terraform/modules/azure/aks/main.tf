# AKS with Entra ID RBAC (local accounts disabled; the identity running terraform is made RBAC cluster admin so
# that the Helm and Kubernetes resources of the same apply are authorised), Workload Identity + OIDC issuer, Azure CNI overlay with
# Cilium network policy, API restricted to authorized ranges, Container Insights, Azure Policy, automatic patch
# upgrades. The system pool is the default node pool; cpu, spot (Spot VMs, evicted = deleted, pay at most the
# on-demand price) and gpu are user pools. AKS's cluster autoscaler scales every pool between min and max.

data "azurerm_client_config" "current" {}

locals {
  system = var.node_pools["system"]
  pools  = { for k, p in var.node_pools : k => p if k != "system" && p.max_nodes > 0 }
  # AKS taints every Spot node with this itself; declaring it keeps plans clean.
  spot_taint = "kubernetes.azure.com/scalesetpriority=spot:NoSchedule"
}

resource "azurerm_log_analytics_workspace" "this" {
  name                = "${var.cluster_name}-logs"
  resource_group_name = var.resource_group_name
  location            = var.location
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = var.tags
}

resource "azurerm_kubernetes_cluster" "this" {
  #checkov:skip=CKV_AZURE_115:Public API endpoint restricted to authorized_cidrs (api_server_access_profile); a private cluster needs a jump host or VPN.
  #checkov:skip=CKV_AZURE_117:OS disks use platform-managed encryption plus host encryption; a disk encryption set needs a Key Vault this project does not run.
  #checkov:skip=CKV_AZURE_232:The system pool also hosts the always-on Ray heads and the KubeRay operator (small control-plane pods); a separate pool would keep one more VM running.
  #checkov:skip=CKV_AZURE_170:sku_tier defaults to Standard (SLA); only the dev root chooses Free to save cost.
  #checkov:skip=CKV_AZURE_6:Set: api_server_access_profile.authorized_ip_ranges = var.authorized_cidrs (validated non-empty, never 0.0.0.0/0); checkov cannot resolve the module variable.
  #checkov:skip=CKV_AZURE_226:Ephemeral OS disks need VM sizes with a large enough cache/temp disk; the default sizes (Dsv5/Fsv2) do not all have one.
  name                              = var.cluster_name
  resource_group_name               = var.resource_group_name
  location                          = var.location
  dns_prefix                        = var.cluster_name
  kubernetes_version                = var.kubernetes_version
  sku_tier                          = var.sku_tier
  automatic_upgrade_channel         = "patch"
  node_os_upgrade_channel           = "NodeImage"
  oidc_issuer_enabled               = true
  workload_identity_enabled         = true
  local_account_disabled            = true
  role_based_access_control_enabled = true
  azure_policy_enabled              = true
  image_cleaner_enabled             = true
  image_cleaner_interval_hours      = 48
  tags                              = var.tags

  default_node_pool {
    name                         = "system"
    vm_size                      = local.system.machine_types[0]
    vnet_subnet_id               = var.subnet_id
    auto_scaling_enabled         = true
    min_count                    = local.system.min_nodes
    max_count                    = local.system.max_nodes
    os_disk_size_gb              = local.system.disk_gib
    max_pods                     = 110
    host_encryption_enabled      = true
    node_labels                  = local.system.labels
    only_critical_addons_enabled = false
    temporary_name_for_rotation  = "systemtmp"
    tags                         = var.tags

    upgrade_settings {
      max_surge = "10%"
    }
  }

  identity {
    type = "SystemAssigned"
  }

  azure_active_directory_role_based_access_control {
    azure_rbac_enabled     = true
    tenant_id              = data.azurerm_client_config.current.tenant_id
    admin_group_object_ids = var.admin_group_object_ids
  }

  network_profile {
    network_plugin      = "azure"
    network_plugin_mode = "overlay"
    network_data_plane  = "cilium"
    network_policy      = "cilium"
    load_balancer_sku   = "standard"
  }

  api_server_access_profile {
    authorized_ip_ranges = var.authorized_cidrs
  }

  auto_scaler_profile {
    balance_similar_node_groups = true
    expander                    = "least-waste"
    scale_down_unneeded         = "5m"
    scale_down_delay_after_add  = "5m"
  }

  key_vault_secrets_provider {
    secret_rotation_enabled = true
  }

  oms_agent {
    log_analytics_workspace_id = azurerm_log_analytics_workspace.this.id
  }

  # The autoscaler owns the current size.
  lifecycle {
    ignore_changes = [default_node_pool[0].node_count]
  }
}

# With Azure RBAC on and local accounts off, nobody may call the Kubernetes API until a role says so, and
# admin_group_object_ids may be empty: without this assignment the KubeRay/NVIDIA Helm releases of the same
# apply fail with 403. The caller is whoever terraform authenticates as (az login user or service principal);
# kubelogin --login azurecli in the roots' providers must log in as the same principal.
resource "azurerm_role_assignment" "deployer_cluster_admin" {
  count                = var.grant_deployer_cluster_admin ? 1 : 0
  scope                = azurerm_kubernetes_cluster.this.id
  role_definition_name = "Azure Kubernetes Service RBAC Cluster Admin"
  principal_id         = data.azurerm_client_config.current.object_id
  description          = "terraform deployer of ${var.cluster_name}: installs the Helm charts and Ray workloads"
}

# Azure RBAC decisions for AKS lag new role assignments by a minute or two; the roots' Kubernetes and Helm
# resources depend on this module, so they start after the wait.
resource "time_sleep" "rbac_propagation" {
  count           = var.grant_deployer_cluster_admin ? 1 : 0
  create_duration = "120s"
  depends_on      = [azurerm_role_assignment.deployer_cluster_admin]
}

resource "azurerm_kubernetes_cluster_node_pool" "pool" {
  for_each                = local.pools
  name                    = each.key
  kubernetes_cluster_id   = azurerm_kubernetes_cluster.this.id
  vm_size                 = each.value.machine_types[0]
  vnet_subnet_id          = var.subnet_id
  mode                    = "User"
  auto_scaling_enabled    = true
  min_count               = each.value.min_nodes
  max_count               = each.value.max_nodes
  os_disk_size_gb         = each.value.disk_gib
  max_pods                = 110
  host_encryption_enabled = true
  priority                = each.value.spot ? "Spot" : "Regular"
  eviction_policy         = each.value.spot ? "Delete" : null
  spot_max_price          = each.value.spot ? -1 : null
  node_labels             = each.value.labels
  node_taints = concat(
    [for t in each.value.taints : "${t.key}=${t.value}:${t.effect}"],
    each.value.spot ? [local.spot_taint] : [],
  )
  tags = var.tags

  dynamic "upgrade_settings" {
    for_each = each.value.spot ? [] : [1]
    content {
      max_surge = "10%"
    }
  }

  lifecycle {
    ignore_changes = [node_count]
  }
}
