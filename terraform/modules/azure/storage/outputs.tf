output "storage_account_name" {
  description = "Storage account name; jobs use abfs://data@<name>.dfs.core.windows.net/... (adlfs)."
  value       = azurerm_storage_account.this.name
}

output "storage_account_id" {
  description = "Storage account resource id."
  value       = azurerm_storage_account.this.id
}

output "container_id" {
  description = "Resource id of the data container (scope of the Ray pods' role assignment)."
  value       = azurerm_storage_container.data.id
}
