output "launcher" {
  description = "Values for cluster/azure.yaml (terraform:ray_launcher.<key>; infra/scripts/launcher_config.py fills them)."
  value = {
    location           = var.location
    subscription_id    = var.subscription_id
    resource_group     = azurerm_resource_group.launcher.name
    msi_name           = azurerm_user_assigned_identity.ray.name
    msi_resource_group = azurerm_resource_group.launcher.name
  }
}
