output "cluster_name" {
  description = "AKS cluster."
  value       = module.aks.cluster_name
}

output "resource_group" {
  description = "Resource group of everything."
  value       = azurerm_resource_group.this.name
}

output "storage_account" {
  description = "Storage account: jobs write abfs://data@<this>.dfs.core.windows.net/..."
  value       = module.storage.storage_account_name
}

output "ray_client_id" {
  description = "Client id of the Ray pods' managed identity (Workload Identity)."
  value       = module.identity.ray_client_id
}

output "ray_namespace" {
  description = "Namespace of the Ray workloads."
  value       = local.ray_namespace
}

output "kubeconfig_command" {
  description = "Command that points kubectl at the cluster (then `kubelogin convert-kubeconfig -l azurecli`)."
  value       = "az aks get-credentials --resource-group ${azurerm_resource_group.this.name} --name ${module.aks.cluster_name}"
}

output "results_url" {
  description = "Where sweeps and quarterly reports are written (QUANTRAY_OUT of the Ray workloads); use it as --out for ray job submit."
  value       = local.results_url
}

output "tradingview_secret" {
  description = "Shared secret of the TradingView alert intake (Secret quantray-serve-secrets; after the second apply)."
  value       = var.deploy_ray_workloads ? module.ray_workloads[0].tradingview_secret : null
  sensitive   = true
}

output "ray_launcher" {
  description = "What cluster/azure.yaml runs on (private network, least-privilege identities): `python infra/scripts/launcher_config.py cluster/azure.yaml --terraform terraform/envs/azure-dev -o <file>`."
  value       = module.ray_launcher.launcher
}
