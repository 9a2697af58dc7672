variable "name" {
  type        = string
  description = "Name prefix of the service accounts and the firewall rule; at most 20 characters."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.name))
    error_message = "name must be 2-20 lowercase letters, digits and hyphens (service account ids are at most 30 characters)."
  }
}

variable "project_id" {
  type        = string
  description = "GCP project id (provider.project_id of cluster/gcp.yaml)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a GCP project id: 6-30 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "network_id" {
  type        = string
  description = "VPC network of the VMs (modules/gcp/network)."
}

variable "subnetwork_self_link" {
  type        = string
  description = "Private node subnet of the VMs (modules/gcp/network)."
}

variable "nodes_cidr" {
  type        = string
  description = "Range of that subnet: the SSH source when ssh_cidrs is empty."

  validation {
    condition     = can(cidrhost(var.nodes_cidr, 0))
    error_message = "nodes_cidr must be a valid IPv4 CIDR."
  }
}

variable "ssh_cidrs" {
  type        = list(string)
  description = "Where `ray up` / `ray attach` connect from (VPN or bastion ranges); empty = from inside the node subnet only. The VMs have no external IP."
  default     = []

  validation {
    condition     = alltrue([for c in var.ssh_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "ssh_cidrs must be valid CIDRs and never 0.0.0.0/0."
  }
}

variable "bucket_name" {
  type        = string
  description = "Data bucket the VMs read and write (its name, not a gs:// URL)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a bucket name such as quantray-dev-data-a1b2c3, without gs://."
  }
}

variable "region" {
  type        = string
  description = "Region of the node subnet (provider.region of cluster/gcp.yaml)."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a GCP region such as us-central1."
  }
}

variable "zone" {
  type        = string
  description = "Zone of the VMs (provider.availability_zone of cluster/gcp.yaml), inside region."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]-[a-z]$", var.zone))
    error_message = "zone must be a GCP zone such as us-central1-a."
  }
}
