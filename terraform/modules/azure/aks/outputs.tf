output "cluster_name" {
  description = "AKS cluster name."
  value       = azurerm_kubernetes_cluster.this.name
}

output "cluster_id" {
  description = "AKS cluster resource id."
  value       = azurerm_kubernetes_cluster.this.id
}

output "oidc_issuer_url" {
  description = "OIDC issuer URL for Workload Identity federation."
  value       = azurerm_kubernetes_cluster.this.oidc_issuer_url
}

output "kube_config" {
  description = "Host and CA of the API server (authentication goes through Entra ID, e.g. kubelogin)."
  value = {
    host                   = azurerm_kubernetes_cluster.this.kube_config[0].host
    cluster_ca_certificate = azurerm_kubernetes_cluster.this.kube_config[0].cluster_ca_certificate
  }
  sensitive = true
}

output "node_pools" {
  description = "User node pool names by pool (system is the default node pool)."
  value       = { for k, p in azurerm_kubernetes_cluster_node_pool.pool : k => p.name }
}
