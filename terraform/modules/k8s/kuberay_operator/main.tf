# The KubeRay operator and its CRDs (RayCluster, RayJob, RayService, RayCronJob) from the official chart, with
# the RayCronJob controller switched on (feature_gates in variables.tf says why and what else is listed).
resource "helm_release" "kuberay_operator" {
  name             = "kuberay-operator"
  repository       = "https://ray-project.github.io/kuberay-helm/"
  chart            = "kuberay-operator"
  version          = var.chart_version
  namespace        = var.namespace
  create_namespace = true
  atomic           = true
  wait             = true
  timeout          = 600

  values = [yamlencode({
    nodeSelector = var.node_selector
    featureGates = var.feature_gates
    resources = {
      requests = { cpu = "100m", memory = "256Mi" }
      limits   = { cpu = "1", memory = "1Gi" }
    }
  })]
}
