variable "name" {
  type        = string
  description = "Name prefix of the file system, its key, security group and IAM role (unique per account: include the region)."
}

variable "account_id" {
  type        = string
  description = "AWS account id (administers the file system's KMS key)."

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account id."
  }
}

variable "cluster_name" {
  type        = string
  description = "EKS cluster that gets the EFS CSI driver add-on."
}

variable "vpc_id" {
  type        = string
  description = "VPC of the cluster (modules/aws/network)."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets of the nodes: one mount target each."

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "subnet_ids must list the nodes' private subnets (one EFS mount target per zone)."
  }
}

variable "client_security_group_ids" {
  type        = list(string)
  description = "Security groups allowed to mount over NFS (the EKS cluster security group of the nodes)."

  validation {
    condition     = length(var.client_security_group_ids) > 0
    error_message = "client_security_group_ids must name the nodes' security group (modules/aws/eks output cluster_security_group_id)."
  }
}

variable "oidc_provider_arn" {
  type        = string
  description = "EKS IAM OIDC provider (IRSA for the EFS CSI controller)."
}

variable "oidc_issuer" {
  type        = string
  description = "EKS OIDC issuer without https://."
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource."
  default     = {}
}
