# The quantray Ray workloads on a cluster that already runs the KubeRay operator (modules/k8s/kuberay_operator):
# the namespace, the Ray token Secret (random, kept in terraform state: use an encrypted remote backend), the
# settings ConfigMap (QUANTRAY_OUT = the data bucket URL), the Serve secrets, the ReadWriteMany StorageClass of
# the Serve app's QUANTRAY_HOME, and the objects of one rendered overlay (infra/k8s/rendered/<overlay>.yaml),
# applied with server-side apply.
#
# kubernetes_manifest needs the Ray CRDs at *plan* time, so apply the operator first (docs/deploy.md: the
# environment roots gate this module behind deploy_ray_workloads).

locals {
  documents = [for doc in split("\n---\n", file(var.manifests_file)) : yamldecode(doc) if trimspace(doc) != ""]

  selected = {
    for doc in local.documents : "${doc.kind}/${doc.metadata.name}" => (
      doc.kind != "ServiceAccount" ? doc : merge(doc, {
        metadata = merge(doc.metadata, {
          annotations = merge(lookup(doc.metadata, "annotations", {}), var.service_account_annotations)
        })
      })
    ) if contains(var.kinds, doc.kind)
  }
}

resource "kubernetes_namespace_v1" "this" {
  metadata {
    name = var.namespace
    labels = {
      "app.kubernetes.io/part-of" = "quantray"
      # Ray pods meet "restricted"; the containers KubeRay injects (autoscaler sidecar, init containers) are
      # only guaranteed to meet "baseline", so enforce that and warn/audit on the stricter level.
      "pod-security.kubernetes.io/enforce" = "baseline"
      "pod-security.kubernetes.io/warn"    = "restricted"
      "pod-security.kubernetes.io/audit"   = "restricted"
    }
  }
}

resource "random_password" "ray_token" {
  length  = 64
  special = false
}

resource "kubernetes_secret_v1" "ray_token" {
  metadata {
    name      = var.token_secret_name
    namespace = kubernetes_namespace_v1.this.metadata[0].name
  }
  type = "Opaque"
  data = {
    auth_token = random_password.ray_token.result
  }
}

# Where results go: the job entrypoints of infra/k8s pass --out ${QUANTRAY_OUT:?}/..., read from this ConfigMap by
# the submitter pods, so sweeps and quarterly reports land in the data bucket instead of the head container.
resource "kubernetes_config_map_v1" "settings" {
  metadata {
    name      = var.settings_config_map_name
    namespace = kubernetes_namespace_v1.this.metadata[0].name
  }
  data = {
    QUANTRAY_OUT = var.results_url
  }
}

# The Serve app's secrets reach its pods as environment variables from this Secret (env.valueFrom.secretKeyRef in
# infra/k8s/base/rayservice.yaml), never as plain text in the RayService or in git.
resource "random_password" "tradingview" {
  length  = 40
  special = false
}

resource "kubernetes_secret_v1" "serve" {
  metadata {
    name      = var.serve_secrets_name
    namespace = kubernetes_namespace_v1.this.metadata[0].name
  }
  type = "Opaque"
  data = {
    QUANTRAY_TRADINGVIEW_SECRET = coalesce(var.tradingview_secret, random_password.tradingview.result)
  }
}

# ReadWriteMany storage for the Serve app's shared QUANTRAY_HOME (infra/k8s/base/pvc-quantray-home.yaml).
resource "kubernetes_storage_class_v1" "shared" {
  metadata {
    name = var.shared_storage_class_name
  }
  storage_provisioner    = var.shared_storage.provisioner
  parameters             = var.shared_storage.parameters
  mount_options          = var.shared_storage.mount_options
  reclaim_policy         = var.shared_storage_reclaim_policy
  volume_binding_mode    = "Immediate"
  allow_volume_expansion = true
}

resource "kubernetes_manifest" "ray" {
  for_each = local.selected
  manifest = each.value

  field_manager {
    name            = "terraform-quantray"
    force_conflicts = true
  }

  depends_on = [
    kubernetes_secret_v1.ray_token,
    kubernetes_config_map_v1.settings,
    kubernetes_secret_v1.serve,
    kubernetes_storage_class_v1.shared,
  ]

  lifecycle {
    precondition {
      condition     = try(each.value.metadata.namespace, "") == var.namespace
      error_message = "Every rendered object must be in namespace ${var.namespace}: render the overlay whose namespace matches."
    }
  }
}
