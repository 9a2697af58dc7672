variable "cloud" {
  type        = string
  description = "Target cloud: aws, gcp or azure (selects the default machine types and the valid type format)."

  validation {
    condition     = contains(["aws", "gcp", "azure"], var.cloud)
    error_message = "cloud must be one of aws, gcp, azure."
  }
}

variable "environment" {
  type        = string
  description = "dev, staging or prod: selects the default autoscaling bounds of every pool."

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "machine_types" {
  type = object({
    system = optional(string)
    cpu    = optional(string)
    spot   = optional(list(string))
    gpu    = optional(string)
  })
  description = "Override the default machine type of a pool (spot takes a list: several similar types make spot capacity easier to find). Types must be of the chosen cloud: c6i.4xlarge (AWS), c2d-highcpu-16 (GCP), Standard_F16s_v2 (Azure)."
  default     = {}

  validation {
    condition = alltrue([
      for t in compact(concat([var.machine_types.system, var.machine_types.cpu, var.machine_types.gpu], coalesce(var.machine_types.spot, []))) :
      var.cloud == "aws" ? can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9-]+$", t)) :
      var.cloud == "gcp" ? can(regex("^[a-z][a-z0-9]*-[a-z0-9-]+$", t)) :
      can(regex("^Standard_[A-Za-z0-9_]+$", t))
    ])
    error_message = "a machine type does not belong to the chosen cloud: AWS types look like c6i.4xlarge, GCP like c2d-highcpu-16, Azure like Standard_F16s_v2."
  }
}

variable "max_nodes" {
  type = object({
    system = optional(number)
    cpu    = optional(number)
    spot   = optional(number)
    gpu    = optional(number)
  })
  description = "Override the autoscaling upper bound (nodes) of a pool; null keeps the environment default."
  default     = {}

  validation {
    condition = alltrue([
      for n in [var.max_nodes.system, var.max_nodes.cpu, var.max_nodes.spot, var.max_nodes.gpu] :
      n == null ? true : (floor(n) == n && n >= 0 && n <= 500)
    ])
    error_message = "max_nodes values must be whole numbers between 0 and 500."
  }
  validation {
    condition     = var.max_nodes.system == null ? true : var.max_nodes.system >= 1
    error_message = "the system pool needs at least one node (it runs the KubeRay operator and the Ray heads)."
  }
}

variable "gpu_enabled" {
  type        = bool
  description = "Create the GPU pool (scales from zero, so it costs nothing until a task asks for a GPU)."
  default     = true
}

variable "disk_gib" {
  type        = number
  description = "Boot disk size of every node, GiB (container images of Ray are large: at least 50)."
  default     = 100

  validation {
    condition     = var.disk_gib >= 50 && var.disk_gib <= 2000
    error_message = "disk_gib must be between 50 and 2000."
  }
}
