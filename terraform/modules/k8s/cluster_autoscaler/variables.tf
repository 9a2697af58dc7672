variable "cluster_name" {
  type        = string
  description = "EKS cluster name (node groups tagged k8s.io/cluster-autoscaler/<cluster_name> are managed)."
}

variable "region" {
  type        = string
  description = "AWS region of the cluster."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region such as us-east-1 (not a zone such as us-east-1a)."
  }
}

variable "role_arn" {
  type        = string
  description = "IAM role for the autoscaler's service account (modules/aws/identity autoscaler_role_arn)."
}

variable "chart_version" {
  type        = string
  description = "cluster-autoscaler Helm chart version; its app version must match the cluster's Kubernetes minor version (9.50.1 ships Cluster Autoscaler 1.33.0, for Kubernetes 1.33)."
  default     = "9.50.1"

  validation {
    condition     = can(regex("^9\\.[0-9]+\\.[0-9]+$", var.chart_version))
    error_message = "chart_version must be a 9.x.y chart version of kubernetes/autoscaler."
  }
}
