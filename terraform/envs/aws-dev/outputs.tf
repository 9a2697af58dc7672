output "cluster_name" {
  description = "EKS cluster; `aws eks update-kubeconfig --name <this> --region <region>` configures kubectl."
  value       = module.eks.cluster_name
}

output "bucket" {
  description = "Data bucket: jobs write s3://<this>/..."
  value       = module.storage.bucket_name
}

output "ray_role_arn" {
  description = "IAM role the Ray pods assume (IRSA)."
  value       = module.identity.ray_role_arn
}

output "ray_namespace" {
  description = "Namespace of the Ray workloads."
  value       = local.ray_namespace
}

output "kubeconfig_command" {
  description = "Command that points kubectl at the cluster."
  value       = "aws eks update-kubeconfig --name ${module.eks.cluster_name} --region ${var.region}"
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
  description = "What cluster/aws.yaml runs on (private network, least-privilege identities, AMI): `python infra/scripts/launcher_config.py cluster/aws.yaml --terraform terraform/envs/aws-dev -o <file>`."
  value       = module.ray_launcher.launcher
}
