output "namespace" {
  description = "Namespace of the Ray workloads."
  value       = kubernetes_namespace_v1.this.metadata[0].name
}

output "objects" {
  description = "Applied objects, as kind/name."
  value       = sort(keys(kubernetes_manifest.ray))
}

output "token_secret_name" {
  description = "Secret with the Ray auth token (kubectl get secret <name> -o jsonpath='{.data.auth_token}' | base64 -d)."
  value       = kubernetes_secret_v1.ray_token.metadata[0].name
}

output "results_url" {
  description = "QUANTRAY_OUT of the Ray workloads: sweeps and quarterly reports are written under it."
  value       = kubernetes_config_map_v1.settings.data["QUANTRAY_OUT"]
}

output "tradingview_secret" {
  description = "Shared secret of the TradingView alert intake (put it in the alerts' messages; docs/api.md)."
  value       = kubernetes_secret_v1.serve.data["QUANTRAY_TRADINGVIEW_SECRET"]
  sensitive   = true
}
