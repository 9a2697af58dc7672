output "node_service_account" {
  description = "Email of the GKE node service account."
  value       = google_service_account.nodes.email
}

output "ray_service_account" {
  description = "Email of the Ray pods' Google service account; annotate their Kubernetes service account with iam.gke.io/gcp-service-account = this."
  value       = google_service_account.ray.email
}
