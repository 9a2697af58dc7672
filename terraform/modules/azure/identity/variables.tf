variable "name" {
  type        = string
  description = "Name prefix of the managed identity (from modules/common/naming)."
}

variable "resource_group_name" {
  type        = string
  description = "Resource group holding the identity."
}

variable "location" {
  type        = string
  description = "Azure region."

  validation {
    condition     = can(regex("^[a-z]+[0-9]?$", var.location))
    error_message = "location must be an Azure region name such as eastus or westeurope (lowercase, no spaces)."
  }
}

variable "oidc_issuer_url" {
  type        = string
  description = "AKS OIDC issuer URL (modules/azure/aks output)."

  validation {
    condition     = startswith(var.oidc_issuer_url, "https://")
    error_message = "oidc_issuer_url must be the https:// issuer URL of the AKS cluster."
  }
}

variable "container_id" {
  type        = string
  description = "Resource id of the data container: the only scope the Ray pods get a role on."
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
    condition     = length(var.ray_service_accounts) >= 1 && length(var.ray_service_accounts) <= 2 && alltrue([for s in var.ray_service_accounts : can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", s))])
    error_message = "ray_service_accounts must list one or two Kubernetes service account names (lowercase letters, digits and '-'); Azure writes their federated credentials one after the other."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource."
  default     = {}
}
