output "vpc_id" {
  description = "VPC id."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "Private subnets (one per zone) for the EKS control-plane ENIs and the nodes."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "Public subnets (NAT gateways, internet-facing load balancers)."
  value       = aws_subnet.public[*].id
}

output "vpc_cidr_block" {
  description = "CIDR of the VPC (the default source of SSH to the cluster launcher's nodes)."
  value       = aws_vpc.this.cidr_block
}
