# Private GKE cluster (nodes without public IPs, API restricted to authorized networks), Workload Identity,
# Dataplane V2 (network policy), shielded nodes, and one autoscaled node pool per pool of
# modules/common/node_pools. GKE's own cluster autoscaler scales each pool between its total min/max
# (OPTIMIZE_UTILIZATION removes idle nodes quickly); spot pools use Spot VMs.

locals {
  pools   = { for k, p in var.node_pools : k => p if p.max_nodes > 0 }
  effects = { NoSchedule = "NO_SCHEDULE", PreferNoSchedule = "PREFER_NO_SCHEDULE", NoExecute = "NO_EXECUTE" }
}

resource "google_container_cluster" "this" {
  #checkov:skip=CKV_GCP_66:Binary Authorization needs an attestation pipeline the project does not run; images are pinned by tag in infra/k8s.
  #checkov:skip=CKV_GCP_12:Dataplane V2 (datapath_provider = ADVANCED_DATAPATH) enforces NetworkPolicy; the legacy network_policy block must not be combined with it.
  #checkov:skip=CKV_GCP_21:Set: resource_labels = var.labels (the naming module's labels); checkov cannot resolve the module variable.
  #checkov:skip=CKV_GCP_65:Google Groups for RBAC needs a Google Workspace domain; set rbac_security_group to enable it.
  #checkov:skip=CKV_GCP_69:Set per node pool (workload_metadata_config GKE_METADATA); the default pool is removed.
  project                     = var.project_id
  name                        = var.cluster_name
  location                    = var.location
  network                     = var.network_id
  subnetwork                  = var.subnetwork_id
  remove_default_node_pool    = true
  initial_node_count          = 1
  deletion_protection         = var.deletion_protection
  datapath_provider           = "ADVANCED_DATAPATH"
  enable_shielded_nodes       = true
  enable_intranode_visibility = true
  resource_labels             = var.labels

  release_channel {
    channel = var.release_channel
  }

  ip_allocation_policy {
    cluster_secondary_range_name  = var.pods_range_name
    services_secondary_range_name = var.services_range_name
  }

  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = false
    master_ipv4_cidr_block  = var.master_cidr
  }

  master_authorized_networks_config {
    dynamic "cidr_blocks" {
      for_each = var.authorized_cidrs
      content {
        cidr_block   = cidr_blocks.value
        display_name = "authorized-${cidr_blocks.key}"
      }
    }
  }

  master_auth {
    client_certificate_config {
      issue_client_certificate = false
    }
  }

  dynamic "authenticator_groups_config" {
    for_each = var.rbac_security_group == null ? [] : [var.rbac_security_group]
    content {
      security_group = authenticator_groups_config.value
    }
  }

  workload_identity_config {
    workload_pool = "${var.project_id}.svc.id.goog"
  }

  # Filestore (NFS, ReadWriteMany) for the Serve app's shared QUANTRAY_HOME (StorageClass quantray-shared).
  addons_config {
    gcp_filestore_csi_driver_config {
      enabled = var.filestore_csi_enabled
    }
  }

  cluster_autoscaling {
    autoscaling_profile = "OPTIMIZE_UTILIZATION"
  }

  # The initial default pool is deleted right away, but it is created first: make it as safe as the others.
  node_config {
    service_account = var.node_service_account
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    metadata = {
      disable-legacy-endpoints = "true"
    }
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
  }

  lifecycle {
    ignore_changes = [node_config]
  }
}

resource "google_container_node_pool" "pool" {
  for_each = local.pools
  project  = var.project_id
  name     = each.key
  cluster  = google_container_cluster.this.id
  location = var.location

  autoscaling {
    total_min_node_count = each.value.min_nodes
    total_max_node_count = each.value.max_nodes
    location_policy      = each.value.spot ? "ANY" : "BALANCED"
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = each.value.machine_types[0]
    disk_size_gb    = each.value.disk_gib
    disk_type       = "pd-balanced"
    image_type      = "COS_CONTAINERD"
    spot            = each.value.spot
    service_account = var.node_service_account
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    labels          = each.value.labels
    resource_labels = var.labels

    metadata = {
      disable-legacy-endpoints = "true"
    }

    # GKE taints GPU nodes with nvidia.com/gpu=present:NoSchedule itself; declare only the other taints.
    dynamic "taint" {
      for_each = [for t in each.value.taints : t if !(each.value.gpus > 0 && t.key == "nvidia.com/gpu")]
      content {
        key    = taint.value.key
        value  = taint.value.value
        effect = local.effects[taint.value.effect]
      }
    }

    dynamic "guest_accelerator" {
      for_each = each.value.gpus > 0 ? [each.value] : []
      content {
        type  = guest_accelerator.value.accelerator
        count = guest_accelerator.value.gpus
        gpu_driver_installation_config {
          gpu_driver_version = "DEFAULT"
        }
      }
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
  }

  # The cluster autoscaler owns the current size.
  lifecycle {
    ignore_changes = [initial_node_count, node_count]
  }
}
