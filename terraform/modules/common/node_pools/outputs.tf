output "pools" {
  description = "Node pools by name (system, cpu, spot, gpu): machine types, vCPUs/memory/GPUs of the default type, autoscaling min/max nodes, spot flag, disk size, Kubernetes labels and taints (effect in Kubernetes spelling, e.g. NoSchedule)."
  value       = local.pools
}

output "label_key" {
  description = "The node label whose value names the pool; infra/k8s selects pools with it."
  value       = local.label_key
}
