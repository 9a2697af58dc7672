variable "cluster_name" {
  type        = string
  description = "GKE cluster name (from modules/common/naming)."
}

variable "project_id" {
  type        = string
  description = "GCP project id."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a GCP project id: 6-30 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "location" {
  type        = string
  description = "A zone (us-central1-a: one control-plane replica, cheapest, dev) or a region (us-central1: regional control plane and nodes in three zones, prod)."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9](-[a-z])?$", var.location))
    error_message = "location must be a GCP region (us-central1) or zone (us-central1-a)."
  }
}

variable "network_id" {
  type        = string
  description = "VPC network (modules/gcp/network)."
}

variable "subnetwork_id" {
  type        = string
  description = "Node subnet with the pods and services secondary ranges (modules/gcp/network)."
}

variable "pods_range_name" {
  type        = string
  description = "Name of the pods secondary range."
}

variable "services_range_name" {
  type        = string
  description = "Name of the services secondary range."
}

variable "master_cidr" {
  type        = string
  description = "/28 for the control plane's private endpoint (must not overlap the subnet)."
  default     = "172.16.0.16/28"

  validation {
    condition     = can(cidrhost(var.master_cidr, 0)) && endswith(var.master_cidr, "/28")
    error_message = "master_cidr must be a /28 IPv4 CIDR."
  }
}

variable "authorized_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to reach the Kubernetes API (your office/VPN)."
  default     = []

  validation {
    condition     = alltrue([for c in var.authorized_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "authorized_cidrs must be valid CIDRs and must not include 0.0.0.0/0."
  }
}

variable "release_channel" {
  type        = string
  description = "GKE release channel: RAPID, REGULAR or STABLE."
  default     = "REGULAR"

  validation {
    condition     = contains(["RAPID", "REGULAR", "STABLE"], var.release_channel)
    error_message = "release_channel must be RAPID, REGULAR or STABLE."
  }
}

variable "node_service_account" {
  type        = string
  description = "Service account email of the nodes (modules/gcp/identity)."
}

variable "node_pools" {
  type = map(object({
    name          = string
    machine_types = list(string)
    gpus          = number
    accelerator   = string
    spot          = bool
    min_nodes     = number
    max_nodes     = number
    disk_gib      = number
    labels        = map(string)
    taints        = list(object({ key = string, value = string, effect = string }))
  }))
  description = "Node pools from modules/common/node_pools (pools with max_nodes = 0 are skipped)."
}

variable "rbac_security_group" {
  type        = string
  description = "Google Groups for RBAC: gke-security-groups@<your Workspace domain>, or null (no Workspace)."
  default     = null

  validation {
    condition     = var.rbac_security_group == null || can(regex("^gke-security-groups@[a-z0-9.-]+$", var.rbac_security_group))
    error_message = "rbac_security_group must be gke-security-groups@<your domain> (GKE requires that exact group name)."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse `terraform destroy` of the cluster (set false to tear a dev cluster down)."
  default     = true
}

variable "labels" {
  type        = map(string)
  description = "Resource labels (modules/common/naming `labels`)."
  default     = {}
}

variable "filestore_csi_enabled" {
  type        = bool
  description = "Enable the Filestore CSI driver (ReadWriteMany volumes; the Serve app's shared QUANTRAY_HOME needs it). Needs the file.googleapis.com API."
  default     = true
}
