variable "name" {
  type        = string
  description = "Name prefix of the IAM roles (from modules/common/naming)."
}

variable "oidc_provider_arn" {
  type        = string
  description = "ARN of the EKS cluster's IAM OIDC provider (modules/aws/eks output)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/.+$", var.oidc_provider_arn))
    error_message = "oidc_provider_arn must be an IAM OIDC provider ARN (arn:aws:iam::<account>:oidc-provider/...)."
  }
}

variable "oidc_issuer" {
  type        = string
  description = "EKS OIDC issuer host and path, without https:// (modules/aws/eks output)."

  validation {
    condition     = !startswith(var.oidc_issuer, "https://")
    error_message = "oidc_issuer must not start with https:// (IAM condition keys use the bare issuer)."
  }
}

variable "ray_namespace" {
  type        = string
  description = "Kubernetes namespace of the Ray pods (infra/k8s overlay namespace)."

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.ray_namespace))
    error_message = "ray_namespace must be a Kubernetes namespace name: lowercase letters, digits and '-', at most 63 characters."
  }
}

variable "ray_service_accounts" {
  type        = list(string)
  description = "Kubernetes service accounts of the Ray pods (infra/k8s/base/serviceaccount.yaml): the workers' and the heads' (the heads run the job drivers, which write results too)."
  default     = ["quantray-ray", "quantray-ray-head"]

  validation {
    condition     = length(var.ray_service_accounts) > 0 && alltrue([for s in var.ray_service_accounts : can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", s))])
    error_message = "ray_service_accounts must list at least one Kubernetes service account name (lowercase letters, digits and '-')."
  }
}

variable "data_access_policy_json" {
  type        = string
  description = "IAM policy (JSON) to read and write the data bucket and use its key: the storage module's data_access_policy_json."
}

variable "cluster_name" {
  type        = string
  description = "EKS cluster name: the cluster autoscaler may only resize node groups tagged as this cluster's."
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource."
  default     = {}
}
