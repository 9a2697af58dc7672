output "file_system_id" {
  description = "EFS file system id (StorageClass parameter fileSystemId)."
  value       = aws_efs_file_system.this.id
}

output "storage_class" {
  description = "StorageClass settings for modules/k8s/ray_workloads (shared_storage): EFS access points owned by uid 1000 / gid 100."
  value = {
    provisioner = "efs.csi.aws.com"
    parameters = {
      provisioningMode = "efs-ap"
      fileSystemId     = aws_efs_file_system.this.id
      directoryPerms   = "0770"
      uid              = "1000"
      gid              = "100"
      basePath         = "/quantray"
    }
    mount_options = ["tls"]
  }
  depends_on = [aws_eks_addon.efs_csi]
}
