# aws identities, none with a long-lived key:
#   irsa (pods, through the cluster's oidc provider):
#     engine               describe the cluster, list the image tags it may roll back to
#     load balancer ctrl   manage albs for ingresses (the controller's published policy)
#     external secrets     read aiops/prod/* secrets and decrypt them
#   github actions (through github's oidc provider):
#     ecr push             main's deploy workflow pushes the two images
#     terraform plan       pull requests: read-only plan
#     terraform apply      the protected `production` environment only

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

module "engine_irsa" {
  #checkov:skip=CKV_TF_1:a registry module pinned to one exact version; a git commit source would lose the registry's version resolution, and terraform init records what it fetched
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "5.60.0"

  role_name = "${var.name}-engine"
  role_policy_arns = {
    engine = aws_iam_policy.engine.arn
  }

  oidc_providers = {
    main = {
      provider_arn               = var.oidc_provider_arn
      namespace_service_accounts = ["${var.shop_namespace}:${var.engine_service_account}"]
    }
  }

  tags = var.tags
}

# what the engine does in kubernetes is rbac's (deploy/k8s/base/engine/rbac.yaml);
# this is only the aws side of the same remediation: which cluster it is in,
# and which image tags exist before it rolls back to one
data "aws_iam_policy_document" "engine" {
  statement {
    sid       = "DescribeItsCluster"
    actions   = ["eks:DescribeCluster"]
    resources = [var.cluster_arn]
  }
  statement {
    sid       = "ReadImageTags"
    actions   = ["ecr:DescribeImages", "ecr:ListImages"]
    resources = var.ecr_repository_arns
  }
}

resource "aws_iam_policy" "engine" {
  name        = "${var.name}-engine"
  description = "The aiops engine's remediation: its cluster and image tags, read only"
  policy      = data.aws_iam_policy_document.engine.json
  tags        = var.tags
}

module "load_balancer_controller_irsa" {
  #checkov:skip=CKV_TF_1:a registry module pinned to one exact version; a git commit source would lose the registry's version resolution, and terraform init records what it fetched
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "5.60.0"

  role_name                              = "${var.name}-aws-load-balancer-controller"
  attach_load_balancer_controller_policy = true

  oidc_providers = {
    main = {
      provider_arn               = var.oidc_provider_arn
      namespace_service_accounts = ["kube-system:aws-load-balancer-controller"]
    }
  }

  tags = var.tags
}

module "external_secrets_irsa" {
  #checkov:skip=CKV_TF_1:a registry module pinned to one exact version; a git commit source would lose the registry's version resolution, and terraform init records what it fetched
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "5.60.0"

  role_name = "${var.name}-external-secrets"
  role_policy_arns = {
    read = aws_iam_policy.external_secrets.arn
  }

  oidc_providers = {
    main = {
      provider_arn               = var.oidc_provider_arn
      namespace_service_accounts = ["external-secrets:external-secrets"]
    }
  }

  tags = var.tags
}

# read only, and only the environment's own secrets: nothing in the cluster
# writes back to secrets manager
data "aws_iam_policy_document" "external_secrets" {
  statement {
    sid = "ReadTheEnvironmentsSecrets"
    actions = [
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetResourcePolicy",
      "secretsmanager:GetSecretValue",
      "secretsmanager:ListSecretVersionIds",
    ]
    resources = ["${var.secrets_arn_prefix}*"]
  }
  statement {
    sid       = "DecryptThem"
    actions   = ["kms:Decrypt"]
    resources = var.secrets_kms_key_arns
  }
}

resource "aws_iam_policy" "external_secrets" {
  name        = "${var.name}-external-secrets"
  description = "External Secrets: read the environment's secrets"
  policy      = data.aws_iam_policy_document.external_secrets.json
  tags        = var.tags
}

# github actions: one oidc provider per account
resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_github_oidc_provider ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
  # aws trusts github's oidc through its own root cas; the thumbprint is
  # required by the api but no longer checked for this provider
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1"]
  tags            = var.tags
}

locals {
  github_oidc_arn = var.create_github_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:oidc-provider/token.actions.githubusercontent.com"
}

# a role a workflow of this repository may assume, when its token's subject
# matches (the branch, the pull request, the environment)
data "aws_iam_policy_document" "github_trust" {
  for_each = {
    ecr-push        = ["repo:${var.github_repository}:ref:refs/heads/main"]
    terraform-plan  = ["repo:${var.github_repository}:pull_request"]
    terraform-apply = ["repo:${var.github_repository}:environment:production"]
  }

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = each.value
    }
  }
}

resource "aws_iam_role" "github" {
  for_each = data.aws_iam_policy_document.github_trust

  name                 = "${var.name}-github-${each.key}"
  assume_role_policy   = each.value.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "ecr_push" {
  statement {
    sid       = "Login"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid = "PushTheTwoImages"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = var.ecr_repository_arns
  }
}

resource "aws_iam_role_policy" "ecr_push" {
  name   = "push-images"
  role   = aws_iam_role.github["ecr-push"].id
  policy = data.aws_iam_policy_document.ecr_push.json
}

# plan reads everything: the resources, the state, the secrets terraform
# keeps. only this repository's pull requests can assume it (a fork's get
# no oidc token).
resource "aws_iam_role_policy_attachment" "terraform_plan_read_only" {
  role       = aws_iam_role.github["terraform-plan"].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/ReadOnlyAccess"
}

data "aws_iam_policy_document" "terraform_state" {
  statement {
    sid       = "State"
    actions   = ["s3:GetObject", "s3:ListBucket"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.terraform_state_bucket}", "arn:${data.aws_partition.current.partition}:s3:::${var.terraform_state_bucket}/*"]
  }
  statement {
    sid       = "Lock"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]
    resources = ["arn:${data.aws_partition.current.partition}:dynamodb:*:${data.aws_caller_identity.current.account_id}:table/${var.terraform_lock_table}"]
  }
  # refreshing the secret versions terraform keeps (readonlyaccess leaves
  # secret values out)
  statement {
    sid       = "RefreshTheEnvironmentsSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["${var.secrets_arn_prefix}*"]
  }
  statement {
    sid       = "DecryptThem"
    actions   = ["kms:Decrypt"]
    resources = var.secrets_kms_key_arns
  }
}

resource "aws_iam_role_policy" "terraform_plan_state" {
  name   = "terraform-state"
  role   = aws_iam_role.github["terraform-plan"].id
  policy = data.aws_iam_policy_document.terraform_state.json
}

# apply creates and changes everything terraform/ describes (iam included),
# so it is an administrator; only the protected `production` environment
# (required reviewers) can assume it
resource "aws_iam_role_policy_attachment" "terraform_apply_admin" {
  #checkov:skip=CKV_AWS_274:the apply role manages vpc, eks, iam and kms; only the repository's protected production environment can assume it
  role       = aws_iam_role.github["terraform-apply"].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AdministratorAccess"
}
