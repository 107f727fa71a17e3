# the vpc: public subnets for the alb and the nat gateways, private subnets
# for the nodes, pods and data stores, over three zones.

locals {
  azs = var.azs
  # /20s for the private subnets (pods take vpc addresses with the vpc cni),
  # /24s for the public ones (load balancers and nat gateways only)
  private_subnets  = [for i, _ in local.azs : cidrsubnet(var.cidr, 4, i)]
  public_subnets   = [for i, _ in local.azs : cidrsubnet(var.cidr, 8, 96 + i)]
  database_subnets = [for i, _ in local.azs : cidrsubnet(var.cidr, 8, 104 + i)]
}

module "vpc" {
  #checkov:skip=CKV_TF_1:a registry module pinned to one exact version; a git commit source would lose the registry's version resolution, and terraform init records what it fetched
  source  = "terraform-aws-modules/vpc/aws"
  version = "5.21.0"

  name = var.name
  cidr = var.cidr
  azs  = local.azs

  private_subnets  = local.private_subnets
  public_subnets   = local.public_subnets
  database_subnets = local.database_subnets

  # the data stores' subnet groups (rds, elasticache) come from here
  create_database_subnet_group       = true
  create_database_subnet_route_table = true

  enable_nat_gateway     = true
  single_nat_gateway     = var.single_nat_gateway
  one_nat_gateway_per_az = !var.single_nat_gateway

  enable_dns_hostnames = true
  enable_dns_support   = true

  # nothing may use the default security group: every resource names its own
  manage_default_security_group  = true
  default_security_group_ingress = []
  default_security_group_egress  = []

  # who talked to whom, for incident reviews
  enable_flow_log                                 = true
  create_flow_log_cloudwatch_log_group            = true
  create_flow_log_cloudwatch_iam_role             = true
  flow_log_max_aggregation_interval               = 60
  flow_log_cloudwatch_log_group_retention_in_days = 90

  # the aws load balancer controller places internet-facing albs in the
  # public subnets and internal ones in the private subnets by these tags
  public_subnet_tags = {
    "kubernetes.io/role/elb"                    = "1"
    "kubernetes.io/cluster/${var.cluster_name}" = "shared"
  }
  private_subnet_tags = {
    "kubernetes.io/role/internal-elb"           = "1"
    "kubernetes.io/cluster/${var.cluster_name}" = "shared"
  }

  tags = var.tags
}
