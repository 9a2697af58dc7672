output "launcher" {
  description = "Values for cluster/aws.yaml (terraform:ray_launcher.<key>; infra/scripts/launcher_config.py fills them)."
  value = {
    region                      = local.region
    ami_id                      = var.ami_id != null ? var.ami_id : data.aws_ssm_parameter.ami[0].insecure_value
    subnet_ids                  = var.subnet_ids
    security_group_id           = aws_security_group.ray.id
    head_instance_profile_arn   = aws_iam_instance_profile.head.arn
    worker_instance_profile_arn = aws_iam_instance_profile.worker.arn
  }
}
