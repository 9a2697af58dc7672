output "chart_version" {
  description = "Installed kuberay-operator chart version."
  value       = helm_release.kuberay_operator.version
}

output "namespace" {
  description = "Namespace of the operator."
  value       = helm_release.kuberay_operator.namespace
}
