# Kubernetes Cluster Autoscaler for EKS managed node groups (GKE and AKS ship their own). Scales a node group
# up when Ray pods are Pending for lack of a node, and removes nodes idle for 5 minutes; groups are found by
# tag, and the node-template tags let it scale groups up from zero.
resource "helm_release" "cluster_autoscaler" {
  name       = "cluster-autoscaler"
  repository = "https://kubernetes.github.io/autoscaler"
  chart      = "cluster-autoscaler"
  version    = var.chart_version
  namespace  = "kube-system"
  atomic     = true
  wait       = true

  values = [yamlencode({
    cloudProvider = "aws"
    awsRegion     = var.region
    autoDiscovery = { clusterName = var.cluster_name }
    rbac = {
      serviceAccount = {
        name        = "cluster-autoscaler"
        annotations = { "eks.amazonaws.com/role-arn" = var.role_arn }
      }
    }
    extraArgs = {
      "balance-similar-node-groups"   = true
      "skip-nodes-with-local-storage" = false
      "expander"                      = "least-waste"
      "scale-down-unneeded-time"      = "5m"
    }
    nodeSelector = { "quantray.io/pool" = "system" }
    resources = {
      requests = { cpu = "100m", memory = "300Mi" }
      limits   = { cpu = "500m", memory = "600Mi" }
    }
  })]
}
