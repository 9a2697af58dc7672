# terraform test (offline: this module has no providers).

variables {
  cloud       = "aws"
  environment = "dev"
}

run "dev_pools_scale_from_zero" {
  command = plan

  assert {
    condition     = toset(keys(output.pools)) == toset(["system", "cpu", "spot", "gpu"])
    error_message = "expected the system, cpu, spot and gpu pools"
  }
  assert {
    condition     = alltrue([for name in ["cpu", "spot", "gpu"] : output.pools[name].min_nodes == 0])
    error_message = "worker pools must scale from zero"
  }
  assert {
    condition     = output.pools.system.min_nodes >= 1
    error_message = "the system pool must keep a node for the operator and the Ray heads"
  }
  assert {
    condition     = alltrue([for p in values(output.pools) : p.min_nodes <= p.max_nodes])
    error_message = "min_nodes must not exceed max_nodes"
  }
}

run "labels_and_taints_match_the_ray_manifests" {
  command = plan

  assert {
    condition     = alltrue([for name, p in output.pools : p.labels["quantray.io/pool"] == name])
    error_message = "every pool is labelled quantray.io/pool=<name> (infra/k8s nodeSelectors)"
  }
  assert {
    condition     = output.pools.spot.spot && output.pools.spot.taints[0].key == "quantray.io/spot"
    error_message = "the spot pool is spot and tainted quantray.io/spot"
  }
  assert {
    condition     = output.pools.gpu.gpus == 1 && output.pools.gpu.taints[0].key == "nvidia.com/gpu"
    error_message = "the gpu pool has a GPU per node and the nvidia.com/gpu taint"
  }
  assert {
    condition     = length(output.pools.spot.machine_types) >= 2
    error_message = "AWS spot capacity is diversified over several instance types"
  }
}

run "prod_bounds_are_larger" {
  command = plan

  variables {
    environment = "prod"
    cloud       = "gcp"
  }

  assert {
    condition     = output.pools.spot.max_nodes == 64 && output.pools.system.min_nodes == 2
    error_message = "prod spot pool scales to 64 nodes and keeps 2 system nodes"
  }
  assert {
    condition     = output.pools.gpu.machine_type == "g2-standard-8" && output.pools.gpu.accelerator == "nvidia-l4"
    error_message = "GCP GPU pool uses g2-standard-8 with an L4"
  }
}

run "overrides_apply" {
  command = plan

  variables {
    cloud         = "azure"
    machine_types = { cpu = "Standard_F32s_v2" }
    max_nodes     = { spot = 10 }
    gpu_enabled   = false
  }

  assert {
    condition     = output.pools.cpu.machine_type == "Standard_F32s_v2" && !output.pools.cpu.default_sizing
    error_message = "machine type override applies and marks the pool as custom-sized"
  }
  assert {
    condition     = output.pools.spot.max_nodes == 10
    error_message = "max_nodes override applies"
  }
  assert {
    condition     = !contains(keys(output.pools), "gpu")
    error_message = "gpu_enabled = false drops the GPU pool"
  }
}

run "rejects_machine_type_of_another_cloud" {
  command = plan

  variables {
    cloud         = "azure"
    machine_types = { cpu = "c6i.4xlarge" }
  }

  expect_failures = [var.machine_types]
}

run "rejects_fractional_node_count" {
  command = plan

  variables {
    max_nodes = { cpu = 2.5 }
  }

  expect_failures = [var.max_nodes]
}

run "rejects_empty_system_pool" {
  command = plan

  variables {
    max_nodes = { system = 0 }
  }

  expect_failures = [var.max_nodes]
}

run "rejects_tiny_disks" {
  command = plan

  variables {
    disk_gib = 20
  }

  expect_failures = [var.disk_gib]
}
