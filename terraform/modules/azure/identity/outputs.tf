output "ray_client_id" {
  description = "Client id of the Ray pods' identity; annotate their service account with azure.workload.identity/client-id = this."
  value       = azurerm_user_assigned_identity.ray.client_id
}
