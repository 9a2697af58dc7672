# Least privilege for the Ray pods: a user-assigned managed identity, federated with the AKS OIDC issuer for
# exactly <ray_namespace>/<each of ray_service_accounts> (Entra Workload ID), holding Storage Blob Data
# Contributor on the data container only (not the account, not the resource group).

resource "azurerm_user_assigned_identity" "ray" {
  name                = "${var.name}-ray-pods"
  resource_group_name = var.resource_group_name
  location            = var.location
  tags                = var.tags
}

# One federated credential per service account. Azure refuses concurrent credential writes on one identity
# (409 ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity), so the second is created after
# the first (ray_service_accounts holds at most two: the workers' and the heads').
resource "azurerm_federated_identity_credential" "ray" {
  name                = "${var.name}-ray-pods"
  resource_group_name = var.resource_group_name
  parent_id           = azurerm_user_assigned_identity.ray.id
  issuer              = var.oidc_issuer_url
  subject             = "system:serviceaccount:${var.ray_namespace}:${var.ray_service_accounts[0]}"
  audience            = ["api://AzureADTokenExchange"]
}

resource "azurerm_federated_identity_credential" "ray_head" {
  for_each            = toset(slice(var.ray_service_accounts, 1, length(var.ray_service_accounts)))
  name                = "${var.name}-${each.value}"
  resource_group_name = var.resource_group_name
  parent_id           = azurerm_user_assigned_identity.ray.id
  issuer              = var.oidc_issuer_url
  subject             = "system:serviceaccount:${var.ray_namespace}:${each.value}"
  audience            = ["api://AzureADTokenExchange"]
  depends_on          = [azurerm_federated_identity_credential.ray]
}

resource "azurerm_role_assignment" "ray_data" {
  scope                = var.container_id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_user_assigned_identity.ray.principal_id
  principal_type       = "ServicePrincipal"
}
