# the two controllers deploy/k8s/overlays/prod relies on, installed by
# terraform because they need the aws roles made here and must exist before
# argo cd syncs anything that uses them (the ingress, the externalsecrets).
# argo cd itself and kube-prometheus-stack are the platform team's.

resource "helm_release" "aws_load_balancer_controller" {
  name       = "aws-load-balancer-controller"
  namespace  = "kube-system"
  repository = "https://aws.github.io/eks-charts"
  chart      = "aws-load-balancer-controller"
  version    = var.load_balancer_controller_chart_version

  # a failed upgrade goes back to the release that worked
  atomic          = true
  cleanup_on_fail = true
  wait            = true

  set {
    name  = "clusterName"
    value = var.cluster_name
  }
  set {
    name  = "region"
    value = var.region
  }
  set {
    name  = "vpcId"
    value = var.vpc_id
  }
  set {
    name  = "serviceAccount.name"
    value = "aws-load-balancer-controller"
  }
  set {
    name  = "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn"
    value = var.load_balancer_controller_role_arn
  }
  # two controllers, so an ingress change never waits for a node's restart
  set {
    name  = "replicaCount"
    value = "2"
  }
}

resource "helm_release" "external_secrets" {
  name             = "external-secrets"
  namespace        = "external-secrets"
  create_namespace = true
  repository       = "https://charts.external-secrets.io"
  chart            = "external-secrets"
  version          = var.external_secrets_chart_version

  atomic          = true
  cleanup_on_fail = true
  wait            = true

  set {
    name  = "installCRDs"
    value = "true"
  }
  set {
    name  = "serviceAccount.name"
    value = "external-secrets"
  }
  set {
    name  = "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn"
    value = var.external_secrets_role_arn
  }
}
