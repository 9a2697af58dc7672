output "cluster_name" {
  description = "GKE cluster."
  value       = module.gke.cluster_name
}

output "bucket" {
  description = "Data bucket: jobs write gs://<this>/..."
  value       = module.storage.bucket_name
}

output "ray_service_account" {
  description = "Google service account the Ray pods act as (Workload Identity)."
  value       = module.identity.ray_service_account
}

output "ray_namespace" {
  description = "Namespace of the Ray workloads."
  value       = local.ray_namespace
}

output "kubeconfig_command" {
  description = "Command that points kubectl at the cluster."
  value       = "gcloud container clusters get-credentials ${module.gke.cluster_name} --zone ${var.zone} --project ${var.project_id}"
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
  description = "What cluster/gcp.yaml runs on (private network, least-privilege identities): `python infra/scripts/launcher_config.py cluster/gcp.yaml --terraform terraform/envs/gcp-dev -o <file>`."
  value       = module.ray_launcher.launcher
}
