output "release" {
  description = "Helm release name."
  value       = helm_release.nvidia_device_plugin.name
}
