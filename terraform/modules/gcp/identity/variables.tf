variable "name" {
  type        = string
  description = "Name prefix of the service accounts (from modules/common/naming); at most 20 characters."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.name))
    error_message = "name must be 2-20 lowercase letters, digits and hyphens (GCP service account ids are at most 30 characters)."
  }
}

variable "project_id" {
  type        = string
  description = "GCP project id."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a GCP project id: 6-30 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "bucket_name" {
  type        = string
  description = "Data bucket the Ray pods read and write (and nothing else): its name, not a gs:// URL."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a bucket name such as quantray-dev-data-a1b2c3, without gs://."
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
