# eks with one managed node group in the private subnets, the irsa oidc
# provider (the engine, the load balancer controller and external secrets
# get their aws roles through it), and the vpc cni's network policy agent,
# without which deploy/k8s's networkpolicies would be accepted and ignored.

module "eks" {
  #checkov:skip=CKV_TF_1:a registry module pinned to one exact version; a git commit source would lose the registry's version resolution, and terraform init records what it fetched
  source  = "terraform-aws-modules/eks/aws"
  version = "20.37.1"

  cluster_name    = var.cluster_name
  cluster_version = var.kubernetes_version

  vpc_id     = var.vpc_id
  subnet_ids = var.private_subnet_ids

  # kubectl and argo cd reach the api over the vpc; the public endpoint is
  # for the listed addresses only
  cluster_endpoint_private_access      = true
  cluster_endpoint_public_access       = length(var.public_access_cidrs) > 0
  cluster_endpoint_public_access_cidrs = var.public_access_cidrs

  # the oidc provider behind iam roles for service accounts (irsa)
  enable_irsa = true

  # secrets in etcd encrypted with a customer managed key the module makes
  create_kms_key = true
  cluster_encryption_config = {
    resources = ["secrets"]
  }

  # the control plane's own logs: who changed what (audit), and why a
  # request was refused (authenticator)
  cluster_enabled_log_types              = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
  cloudwatch_log_group_retention_in_days = 90

  authentication_mode                      = "API"
  enable_cluster_creator_admin_permissions = true
  access_entries = {
    for i, arn in var.admin_role_arns : "admin-${i}" => {
      principal_arn = arn
      policy_associations = {
        admin = {
          policy_arn   = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
          access_scope = { type = "cluster" }
        }
      }
    }
  }

  cluster_addons = {
    coredns    = { most_recent = true }
    kube-proxy = { most_recent = true }
    vpc-cni = {
      most_recent = true
      # before the nodes: they join with network policy enforcement on
      before_compute = true
      configuration_values = jsonencode({
        enableNetworkPolicy = "true"
      })
    }
  }

  eks_managed_node_groups = {
    default = {
      ami_type       = "AL2023_x86_64_STANDARD"
      instance_types = var.node_instance_types
      min_size       = var.node_min_size
      max_size       = var.node_max_size
      desired_size   = var.node_desired_size

      # imdsv2 only, one hop: pods cannot borrow the node's role through the
      # metadata service (they have their own, through irsa)
      metadata_options = {
        http_endpoint               = "enabled"
        http_tokens                 = "required"
        http_put_response_hop_limit = 1
      }

      block_device_mappings = {
        root = {
          device_name = "/dev/xvda"
          ebs = {
            volume_size           = 50
            volume_type           = "gp3"
            encrypted             = true
            delete_on_termination = true
          }
        }
      }

      # one node at a time while the group's nodes are replaced: the pdbs
      # keep every service serving
      update_config = {
        max_unavailable = 1
      }
    }
  }

  tags = var.tags
}
