output "bucket_name" {
  description = "Data bucket name; jobs use gs://<bucket_name>/..."
  value       = google_storage_bucket.data.name
}

output "bucket_url" {
  description = "gs:// URL of the data bucket."
  value       = google_storage_bucket.data.url
}
