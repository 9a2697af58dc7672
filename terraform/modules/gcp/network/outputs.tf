output "network_id" {
  description = "VPC network id."
  value       = google_compute_network.this.id
}

output "subnetwork_id" {
  description = "Node subnet id."
  value       = google_compute_subnetwork.nodes.id
}

output "pods_range_name" {
  description = "Secondary range name for pods."
  value       = "pods"
}

output "services_range_name" {
  description = "Secondary range name for services."
  value       = "services"
}

output "network_name" {
  description = "VPC network name (Filestore instances attach to it)."
  value       = google_compute_network.this.name
}

output "nodes_cidr" {
  description = "Primary range of the node subnet (the default SSH source of the cluster launcher's VMs)."
  value       = google_compute_subnetwork.nodes.ip_cidr_range
}

output "subnetwork_self_link" {
  description = "Self link of the node subnet (cluster/gcp.yaml networkInterfaces)."
  value       = google_compute_subnetwork.nodes.self_link
}
