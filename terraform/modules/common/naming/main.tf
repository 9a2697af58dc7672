locals {
  prefix = "${var.project}-${var.environment}"

  # Tags for AWS and Azure resources.
  tags = merge(var.extra_tags, {
    project     = var.project
    environment = var.environment
    managed-by  = "terraform"
  })

  # GCP labels: lowercase keys and values, [a-z0-9_-] only.
  labels = { for k, v in local.tags : lower(k) => replace(lower(v), "/[^a-z0-9_-]/", "-") }
}
