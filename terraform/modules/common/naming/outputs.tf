output "prefix" {
  description = "Common name prefix, <project>-<environment>."
  value       = local.prefix
}

output "cluster_name" {
  description = "Kubernetes cluster name."
  value       = "${local.prefix}-ray"
}

output "bucket_name" {
  description = "Globally unique object-storage bucket name (S3/GCS rules: 3-63 lowercase characters)."
  value       = "${local.prefix}-data-${var.unique_suffix}"
}

output "storage_account_name" {
  description = "Azure storage account name (3-24 lowercase letters and digits, globally unique)."
  # The project part is shortened, never the suffix that makes the name unique.
  value = join("", [
    substr(replace(var.project, "-", ""), 0, 24 - length(var.environment) - length(var.unique_suffix)),
    var.environment,
    var.unique_suffix,
  ])
}

output "tags" {
  description = "Tags for AWS and Azure resources."
  value       = local.tags
}

output "labels" {
  description = "The same tags as GCP labels (lowercase, [a-z0-9_-])."
  value       = local.labels
}
