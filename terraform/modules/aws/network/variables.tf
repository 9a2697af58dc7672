variable "name" {
  type        = string
  description = "Name prefix of the VPC and its parts (from modules/common/naming)."
}

variable "cluster_name" {
  type        = string
  description = "EKS cluster name; subnets are tagged for its load balancers."
}

variable "cidr_block" {
  type        = string
  description = "VPC CIDR block; a /16 leaves room for pods (the VPC CNI gives every pod a VPC address)."
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) <= 18
    error_message = "cidr_block must be a valid IPv4 CIDR of size /18 or larger (e.g. 10.40.0.0/16): EKS pods take VPC addresses."
  }
}

variable "availability_zones" {
  type        = list(string)
  description = "Availability zones (names, e.g. us-east-1a) to spread the subnets over: 2 or 3 of the region's."

  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 3 && length(distinct(var.availability_zones)) == length(var.availability_zones)
    error_message = "availability_zones must name 2 or 3 distinct zones (EKS needs subnets in at least two)."
  }
  validation {
    condition     = alltrue([for z in var.availability_zones : can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]$", z))])
    error_message = "availability_zones must be zone names such as us-east-1a (a region name such as us-east-1 is not a zone)."
  }
}

variable "single_nat_gateway" {
  type        = bool
  description = "One NAT gateway for all zones (cheaper, the dev default) instead of one per zone (zone-failure tolerant)."
  default     = true
}

variable "flow_log_retention_days" {
  type        = number
  description = "Retention of VPC flow logs in CloudWatch, days."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource."
  default     = {}
}
