output "ray_role_arn" {
  description = "IAM role of the Ray pods; annotate their service account with eks.amazonaws.com/role-arn = this."
  value       = aws_iam_role.ray.arn
}

output "autoscaler_role_arn" {
  description = "IAM role of the cluster autoscaler (kube-system/cluster-autoscaler)."
  value       = aws_iam_role.autoscaler.arn
}
