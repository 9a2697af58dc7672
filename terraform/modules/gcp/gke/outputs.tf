output "cluster_name" {
  description = "GKE cluster name."
  value       = google_container_cluster.this.name
}

output "endpoint" {
  description = "Kubernetes API endpoint (IP)."
  value       = google_container_cluster.this.endpoint
}

output "certificate_authority" {
  description = "Base64 PEM of the cluster CA."
  value       = google_container_cluster.this.master_auth[0].cluster_ca_certificate
}

output "node_pools" {
  description = "Node pool names by pool."
  value       = { for k, p in google_container_node_pool.pool : k => p.name }
}
