output "vpc_id" {
  description = "The VPC's id."
  value       = module.vpc.vpc_id
}

output "vpc_cidr" {
  description = "The VPC's address range."
  value       = module.vpc.vpc_cidr_block
}

output "private_subnet_ids" {
  description = "Private subnets, one per zone: the EKS nodes and pods."
  value       = module.vpc.private_subnets
}

output "public_subnet_ids" {
  description = "Public subnets, one per zone: internet-facing load balancers and NAT gateways."
  value       = module.vpc.public_subnets
}

output "database_subnet_group_name" {
  description = "The RDS subnet group over the database subnets."
  value       = module.vpc.database_subnet_group_name
}

output "database_subnet_ids" {
  description = "Database subnets, one per zone: RDS and ElastiCache."
  value       = module.vpc.database_subnets
}

output "azs" {
  description = "The availability zones used."
  value       = local.azs
}
