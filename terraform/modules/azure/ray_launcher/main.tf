# What cluster/azure.yaml (`ray up`) runs on. Ray 2.60's Azure provider always deploys its own template into
# provider.resource_group: a VNet, an NSG with SSH open to any source, and (unless the config names one) a new
# managed identity; it assigns that identity Contributor on the resource group, which its head needs to create
# and delete the worker VMs. What terraform can narrow:
# - a resource group for the Ray cluster only, so that Contributor reaches nothing else;
# - the identity the VMs run as (provider.msi_name / msi_resource_group), created here with Storage Blob Data
#   Contributor on the data container and no other role but Ray's;
# - provider.use_internal_ips in cluster/azure.yaml: no public IPs, so the NSG's SSH rule is reachable only from
#   networks peered with Ray's VNet (docs/deploy.md 3 says how to reach it).
# infra/scripts/launcher_config.py fills cluster/azure.yaml's `terraform:ray_launcher.*` values from the output.

resource "azurerm_resource_group" "launcher" {
  name     = "${var.name}-ray-launcher"
  location = var.location
  tags     = var.tags
}

resource "azurerm_user_assigned_identity" "ray" {
  name                = "${var.name}-ray-launcher"
  resource_group_name = azurerm_resource_group.launcher.name
  location            = var.location
  tags                = var.tags
}

resource "azurerm_role_assignment" "data" {
  scope                = var.container_id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_user_assigned_identity.ray.principal_id
  principal_type       = "ServicePrincipal"
}
