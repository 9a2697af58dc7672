variable "name" {
  type        = string
  description = "Name prefix of the network and its parts (from modules/common/naming)."
}

variable "project_id" {
  type        = string
  description = "GCP project id."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a GCP project id: 6-30 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "GCP region of the subnet, e.g. us-central1."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a GCP region such as us-central1 (not a zone such as us-central1-a)."
  }
}

variable "nodes_cidr" {
  type        = string
  description = "Primary range of the subnet (nodes)."
  default     = "10.50.0.0/20"

  validation {
    condition     = can(cidrhost(var.nodes_cidr, 0))
    error_message = "nodes_cidr must be a valid IPv4 CIDR."
  }
}

variable "pods_cidr" {
  type        = string
  description = "Secondary range for pods (VPC-native GKE); /14 fits ~1000 nodes of 110 pods."
  default     = "10.52.0.0/14"

  validation {
    condition     = can(cidrhost(var.pods_cidr, 0)) && tonumber(split("/", var.pods_cidr)[1]) <= 20
    error_message = "pods_cidr must be a valid IPv4 CIDR of size /20 or larger."
  }
}

variable "services_cidr" {
  type        = string
  description = "Secondary range for Kubernetes services."
  default     = "10.56.0.0/20"

  validation {
    condition     = can(cidrhost(var.services_cidr, 0))
    error_message = "services_cidr must be a valid IPv4 CIDR."
  }
}
