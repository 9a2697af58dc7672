variable "region" {
  type        = string
  description = "AWS region of the cluster and the bucket, e.g. us-east-1."
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region such as us-east-1 (not an availability zone such as us-east-1a)."
  }
}

variable "availability_zones" {
  type        = list(string)
  description = "Two or three availability zones of the region for the subnets and nodes."
  default     = ["us-east-1a", "us-east-1b", "us-east-1c"]

  validation {
    condition     = alltrue([for z in var.availability_zones : startswith(z, var.region) && length(z) == length(var.region) + 1])
    error_message = "every availability zone must belong to var.region (us-east-1a, us-east-1b, ... for us-east-1)."
  }
}

variable "api_allowed_cidrs" {
  type        = list(string)
  description = "CIDRs that may reach the Kubernetes API (your office/VPN public IPs, e.g. [\"203.0.113.7/32\"])."

  validation {
    condition     = length(var.api_allowed_cidrs) > 0 && alltrue([for c in var.api_allowed_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "api_allowed_cidrs must list at least one valid CIDR, and never 0.0.0.0/0."
  }
}

variable "kubernetes_version" {
  type        = string
  description = "EKS Kubernetes minor version."
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.(2[89]|3[0-9])$", var.kubernetes_version))
    error_message = "kubernetes_version must be a minor version like \"1.33\"."
  }
}

variable "machine_types" {
  type = object({
    system = optional(string)
    cpu    = optional(string)
    spot   = optional(list(string))
    gpu    = optional(string)
  })
  description = "Override EC2 instance types per pool (see modules/common/node_pools for the defaults)."
  default     = {}

  validation {
    condition = alltrue([
      for t in compact(concat([var.machine_types.system, var.machine_types.cpu, var.machine_types.gpu], coalesce(var.machine_types.spot, []))) :
      can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9-]+$", t))
    ])
    error_message = "machine types must be EC2 instance types such as c6i.4xlarge."
  }
}

variable "max_nodes" {
  type = object({
    system = optional(number)
    cpu    = optional(number)
    spot   = optional(number)
    gpu    = optional(number)
  })
  description = "Override the autoscaling upper bound of a pool (nodes)."
  default     = {}

  validation {
    condition     = alltrue([for n in [var.max_nodes.system, var.max_nodes.cpu, var.max_nodes.spot, var.max_nodes.gpu] : n == null ? true : (floor(n) == n && n >= 0 && n <= 500)])
    error_message = "max_nodes values must be whole numbers between 0 and 500."
  }
}

variable "gpu_enabled" {
  type        = bool
  description = "Create the GPU node group (scales from zero) and the NVIDIA device plugin."
  default     = true
}

variable "deploy_ray_workloads" {
  type        = bool
  description = "Apply the Ray workloads (RayCluster, RayService, RayCronJob). Leave false for the first apply: their CRDs come with the KubeRay operator, and kubernetes_manifest needs the CRDs at plan time."
  default     = false
}

variable "extra_tags" {
  type        = map(string)
  description = "Additional tags for every resource (e.g. cost-center)."
  default     = {}
}

variable "launcher_ssh_cidrs" {
  type        = list(string)
  description = "Where `ray up` with cluster/<cloud>.yaml connects from (VPN or bastion ranges). The launcher's VMs have private IPs only; empty = SSH from inside the network only."
  default     = []

  validation {
    condition     = alltrue([for c in var.launcher_ssh_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "launcher_ssh_cidrs must be valid CIDRs and never 0.0.0.0/0."
  }
}

variable "launcher_ami_id" {
  type        = string
  description = "Pin the AMI of cluster/aws.yaml's nodes. Null: the region's current Ubuntu 22.04 Deep Learning Base OSS Nvidia Driver GPU AMI from AWS's public SSM parameter, resolved at each plan."
  default     = null

  validation {
    condition     = var.launcher_ami_id == null ? true : can(regex("^ami-[0-9a-f]{8,17}$", var.launcher_ami_id))
    error_message = "launcher_ami_id must be an AMI id such as ami-0123456789abcdef0, or null."
  }
}
