output "release" {
  description = "Helm release name."
  value       = helm_release.cluster_autoscaler.name
}
