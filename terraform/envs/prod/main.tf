# prod: the vpc, eks, the image registries, the data stores, the aws roles
# of the engine, the controllers and ci, and the two controllers the
# kubernetes manifests need. argo cd then syncs deploy/argocd/root-prod.yaml.

locals {
  cluster_name = var.name
  tags = {
    project     = "aiops"
    environment = "prod"
    managed-by  = "terraform"
  }
  # terraform/envs/prod/backend.tf's, for the plan role
  state_bucket = "aiops-terraform-state"
  lock_table   = "aiops-terraform-locks"
}

module "network" {
  source = "../../modules/network"

  name         = var.name
  cidr         = var.vpc_cidr
  azs          = ["${var.region}a", "${var.region}b", "${var.region}c"]
  cluster_name = local.cluster_name
  tags         = local.tags
}

module "eks" {
  source = "../../modules/eks"

  cluster_name        = local.cluster_name
  kubernetes_version  = var.kubernetes_version
  vpc_id              = module.network.vpc_id
  private_subnet_ids  = module.network.private_subnet_ids
  public_access_cidrs = var.public_access_cidrs
  admin_role_arns     = var.admin_role_arns
  tags                = local.tags
}

module "ecr" {
  source = "../../modules/ecr"

  repositories = ["aiops/shop", "aiops/engine"]
  tags         = local.tags
}

module "data" {
  source = "../../modules/data"

  name                       = var.name
  secrets_prefix             = "aiops/prod/"
  vpc_id                     = module.network.vpc_id
  database_subnet_group_name = module.network.database_subnet_group_name
  database_subnet_ids        = module.network.database_subnet_ids
  client_security_group_ids  = [module.eks.node_security_group_id]
  tags                       = local.tags
}

module "iam" {
  source = "../../modules/iam"

  name                        = var.name
  oidc_provider_arn           = module.eks.oidc_provider_arn
  cluster_arn                 = module.eks.cluster_arn
  ecr_repository_arns         = values(module.ecr.repository_arns)
  secrets_arn_prefix          = module.data.secrets_arn_prefix
  secrets_kms_key_arns        = [module.data.kms_key_arn]
  github_repository           = var.github_repository
  create_github_oidc_provider = var.create_github_oidc_provider
  terraform_state_bucket      = local.state_bucket
  terraform_lock_table        = local.lock_table
  tags                        = local.tags
}

module "addons" {
  source = "../../modules/addons"

  cluster_name                      = module.eks.cluster_name
  region                            = var.region
  vpc_id                            = module.network.vpc_id
  load_balancer_controller_role_arn = module.iam.load_balancer_controller_role_arn
  external_secrets_role_arn         = module.iam.external_secrets_role_arn
}
