variable "name" {
  type        = string
  description = "Name prefix of the IAM roles, instance profiles and security group (unique per account: include the region)."
}

variable "cluster_name" {
  type        = string
  description = "cluster_name of cluster/aws.yaml: Ray tags its instances ray-cluster-name=<this>, and the head may only manage instances with that tag."
  default     = "quantray"

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$", var.cluster_name))
    error_message = "cluster_name must be the cluster_name of cluster/aws.yaml (letters, digits, '-' and '_')."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the launcher's nodes (modules/aws/network)."
}

variable "vpc_cidr_block" {
  type        = string
  description = "CIDR of the VPC: the SSH source when ssh_cidrs is empty."

  validation {
    condition     = can(cidrhost(var.vpc_cidr_block, 0))
    error_message = "vpc_cidr_block must be a valid IPv4 CIDR."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets for the nodes (no public IPs; egress through NAT)."

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "subnet_ids must list at least one private subnet."
  }
}

variable "ssh_cidrs" {
  type        = list(string)
  description = "Where `ray up` / `ray attach` connect from (VPN or bastion ranges); empty = from inside the VPC only. The nodes have private IPs only."
  default     = []

  validation {
    condition     = alltrue([for c in var.ssh_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "ssh_cidrs must be valid CIDRs and never 0.0.0.0/0."
  }
}

variable "data_access_policy_json" {
  type        = string
  description = "IAM policy (JSON) to read and write the data bucket and use its key: the storage module's data_access_policy_json."
}

variable "ami_id" {
  type        = string
  description = "Pin the nodes' AMI (per region). Null: resolve ami_ssm_parameter at apply time (re-resolved by every plan, so pin for reproducible clusters)."
  default     = null

  validation {
    condition     = var.ami_id == null ? true : can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be an AMI id such as ami-0123456789abcdef0 (or null to use ami_ssm_parameter)."
  }
}

variable "ami_ssm_parameter" {
  type        = string
  description = "AWS's public SSM parameter holding the current Ubuntu 22.04 Deep Learning Base OSS Nvidia Driver GPU AMI of the region (Docker, NVIDIA driver and container toolkit for the CUDA 12 image)."
  default     = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id"

  validation {
    condition     = startswith(var.ami_ssm_parameter, "/aws/service/deeplearning/ami/") && strcontains(var.ami_ssm_parameter, "ubuntu-22.04")
    error_message = "ami_ssm_parameter must be an AWS Deep Learning AMI parameter for Ubuntu 22.04 (/aws/service/deeplearning/ami/...ubuntu-22.04.../ami-id)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource."
  default     = {}
}
