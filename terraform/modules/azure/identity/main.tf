# Least privilege for the Ray pods: a user-assigned managed identity, federated with the AKS OIDC issuer for
# exactly <ray_namespace>/<ray_service_account> (Entra Workload ID), holding Storage Blob Data Contributor on
# the data container only (not the account, not the resource group).

resource "azurerm_user_assigned_identity" "ray" {
  name                = "${var.name}-ray-pods"
  resource_group_name = var.resource_group_name
  location            = var.location
  tags                = var.tags
}

resource "azurerm_federated_identity_credential" "ray" {
  name                = "${var.name}-ray-pods"
  resource_group_name = var.resource_group_name
  parent_id           = azurerm_user_assigned_identity.ray.id
  issuer              = var.oidc_issuer_url
  subject             = "system:serviceaccount:${var.ray_namespace}:${var.ray_service_account}"
  audience            = ["api://AzureADTokenExchange"]
}

resource "azurerm_role_assignment" "ray_data" {
  scope                = var.container_id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_user_assigned_identity.ray.principal_id
  principal_type       = "ServicePrincipal"
}
