# one repository per image. tags are immutable: a tag (the commit's sha,
# .github/workflows/deploy.yml) always means the same image, so a rollback
# to it brings back exactly what ran.

resource "aws_kms_key" "ecr" {
  count = var.kms_key_arn == null ? 1 : 0

  description         = "ECR images of the aiops engine and shop"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.ecr_key[0].json
  tags                = var.tags
}

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "ecr_key" {
  #checkov:skip=CKV_AWS_111:a key policy's "*" resource is this key itself; this is aws' default key policy (the account administers, iam grants use)
  #checkov:skip=CKV_AWS_356:as above, "*" in a key policy means this key
  #checkov:skip=CKV_AWS_109:as above: the account root, not a wildcard principal, administers the key
  count = var.kms_key_arn == null ? 1 : 0

  # the account administers the key (iam policies then grant its use); ecr
  # uses it through grants on behalf of whoever pushes or pulls
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

locals {
  kms_key_arn = var.kms_key_arn == null ? aws_kms_key.ecr[0].arn : var.kms_key_arn
}

resource "aws_ecr_repository" "this" {
  for_each = toset(var.repositories)

  name                 = each.value
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = local.kms_key_arn
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "untagged layers of interrupted pushes go after a week"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 7
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "keep the newest ${var.keep_images} releases"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.keep_images
        }
        action = { type = "expire" }
      },
    ]
  })
}
