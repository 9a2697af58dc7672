locals {
  # Default machine types: vCPUs and memory are listed so that consumers (and tests/deploy) can check that the
  # Ray pods of infra/k8s fit on them. The spot pool lists interchangeable types to widen spot capacity.
  catalogue = {
    aws = {
      system = { types = ["m6i.xlarge"], vcpus = 4, memory_gib = 16, gpus = 0, accelerator = null }
      cpu    = { types = ["c6i.4xlarge"], vcpus = 16, memory_gib = 32, gpus = 0, accelerator = null }
      spot   = { types = ["c6i.4xlarge", "c6a.4xlarge", "c5.4xlarge"], vcpus = 16, memory_gib = 32, gpus = 0, accelerator = null }
      gpu    = { types = ["g5.2xlarge"], vcpus = 8, memory_gib = 32, gpus = 1, accelerator = "nvidia-a10g" }
    }
    gcp = {
      system = { types = ["e2-standard-4"], vcpus = 4, memory_gib = 16, gpus = 0, accelerator = null }
      cpu    = { types = ["c2d-highcpu-16"], vcpus = 16, memory_gib = 32, gpus = 0, accelerator = null }
      spot   = { types = ["c2d-highcpu-16"], vcpus = 16, memory_gib = 32, gpus = 0, accelerator = null }
      gpu    = { types = ["g2-standard-8"], vcpus = 8, memory_gib = 32, gpus = 1, accelerator = "nvidia-l4" }
    }
    azure = {
      system = { types = ["Standard_D4s_v5"], vcpus = 4, memory_gib = 16, gpus = 0, accelerator = null }
      cpu    = { types = ["Standard_F16s_v2"], vcpus = 16, memory_gib = 32, gpus = 0, accelerator = null }
      spot   = { types = ["Standard_F16s_v2"], vcpus = 16, memory_gib = 32, gpus = 0, accelerator = null }
      gpu    = { types = ["Standard_NC8as_T4_v3"], vcpus = 8, memory_gib = 56, gpus = 1, accelerator = "nvidia-t4" }
    }
  }

  # Autoscaling bounds per environment. Every pool but system scales from zero: idle research costs nothing.
  bounds = {
    dev     = { system = [1, 2], cpu = [0, 4], spot = [0, 4], gpu = [0, 1] }
    staging = { system = [1, 3], cpu = [0, 8], spot = [0, 16], gpu = [0, 2] }
    prod    = { system = [2, 4], cpu = [0, 24], spot = [0, 64], gpu = [0, 6] }
  }

  # What the Ray pods select and tolerate (infra/k8s): nodeSelector quantray.io/pool, spot and GPU taints.
  label_key = "quantray.io/pool"
  taints = {
    system = []
    cpu    = []
    spot   = [{ key = "quantray.io/spot", value = "true", effect = "NoSchedule" }]
    gpu    = [{ key = "nvidia.com/gpu", value = "present", effect = "NoSchedule" }]
  }

  overrides = {
    system = var.machine_types.system == null ? null : [var.machine_types.system]
    cpu    = var.machine_types.cpu == null ? null : [var.machine_types.cpu]
    spot   = var.machine_types.spot
    gpu    = var.machine_types.gpu == null ? null : [var.machine_types.gpu]
  }

  pool_names = var.gpu_enabled ? ["system", "cpu", "spot", "gpu"] : ["system", "cpu", "spot"]

  pools = {
    for name in local.pool_names : name => {
      name           = name
      machine_types  = coalesce(local.overrides[name], local.catalogue[var.cloud][name].types)
      machine_type   = coalesce(local.overrides[name], local.catalogue[var.cloud][name].types)[0]
      default_sizing = local.overrides[name] == null
      vcpus          = local.catalogue[var.cloud][name].vcpus
      memory_gib     = local.catalogue[var.cloud][name].memory_gib
      gpus           = local.catalogue[var.cloud][name].gpus
      accelerator    = local.catalogue[var.cloud][name].accelerator
      spot           = name == "spot"
      min_nodes      = local.bounds[var.environment][name][0]
      max_nodes      = coalesce(lookup(var.max_nodes, name, null), local.bounds[var.environment][name][1])
      disk_gib       = var.disk_gib
      labels         = { (local.label_key) = name }
      taints         = local.taints[name]
    }
  }
}
