output "cluster_name" {
  description = "EKS cluster name."
  value       = aws_eks_cluster.this.name
}

output "endpoint" {
  description = "Kubernetes API endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "certificate_authority" {
  description = "Base64 PEM of the cluster CA."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "oidc_provider_arn" {
  description = "IAM OIDC provider for IRSA."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "oidc_issuer" {
  description = "OIDC issuer without https:// (for IAM trust conditions)."
  value       = replace(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://", "")
}

output "node_groups" {
  description = "Managed node groups by pool name."
  value       = { for k, g in aws_eks_node_group.pool : k => g.node_group_name }
}

output "cluster_security_group_id" {
  description = "Security group EKS attaches to the control plane and the managed nodes (clients of the shared file system)."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}
